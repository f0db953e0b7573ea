"""C2PA content credentials, read and validated offline (``c2pa-python``, the CAI's c2pa-rs library).

A C2PA manifest is a signed statement embedded in the file: who made it with what tool, which actions
(captured, edited, AI-generated...), and a hash of the content. Validation recomputes the hash and checks
the signature. Offline there is no trust list, no OCSP and no remote manifest, so a good signature from an
unknown signer reads "valid, signer not on a trust list here".

What it cannot show: most pictures carry no manifest and its absence proves nothing (platforms strip it);
a valid manifest says who signed the claims, not that the scene is real; a stripped-and-resigned file
carries a valid manifest from whoever resigned it.
"""

from __future__ import annotations

import io
import json
from typing import Any

from imint.checks.base import CheckContext, CheckResult

OFFLINE_SETTINGS = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
METHOD_ID = "c2pa-python 0.38.1 (offline: no trust list, no OCSP, no remote manifests)"


def _context():  # noqa: ANN202 - c2pa.Context or None
    import c2pa

    try:
        return c2pa.Context(c2pa.Settings.from_dict(OFFLINE_SETTINGS))
    except Exception:  # noqa: BLE001 - older settings schema: the library's defaults still never fetch OCSP here
        return None


def read_manifest(data: bytes, mime: str) -> dict[str, Any] | None:
    """The manifest store as JSON (``validation_state``, ``validation_results``...), None when absent."""
    import c2pa

    context = _context()
    try:
        reader = (
            c2pa.Reader(mime, io.BytesIO(data), context=context)
            if context
            else c2pa.Reader(mime, io.BytesIO(data))
        )
    except c2pa.C2paError as exc:
        if "ManifestNotFound" in type(exc).__name__ or "ManifestNotFound" in str(exc) or "JUMBF" in str(exc):
            return None
        raise
    try:
        return json.loads(reader.json())
    finally:
        reader.close()


def c2pa_check(ctx: CheckContext) -> CheckResult:
    """Absent, valid (with signer and actions) or invalid (with the failing codes)."""
    import c2pa

    mime = ctx.evidence.media_type if "/" in ctx.evidence.media_type else "image/jpeg"
    try:
        store = read_manifest(ctx.data(), mime)
    except c2pa.C2paError as exc:
        if "NotSupported" in type(exc).__name__:
            return CheckResult("c2pa", "absent", f"C2PA cannot be read from {mime} files.", method=METHOD_ID)
        raise ctx.fail("c2pa", f"C2PA data present but unreadable: {exc}") from exc
    if store is None:
        return CheckResult(
            "c2pa",
            "absent",
            f"No C2PA content credentials in {ctx.name}; most pictures have none, so this proves nothing.",
            method=METHOD_ID,
        )
    active_label = store.get("active_manifest")
    manifest = (store.get("manifests") or {}).get(active_label, {})
    state = store.get("validation_state") or "Unknown"
    results = (store.get("validation_results") or {}).get("activeManifest", {})
    failures = [f.get("code", "") for f in results.get("failure", [])]
    integrity_failures = [c for c in failures if c != "signingCredential.untrusted"]
    sig = manifest.get("signature_info") or {}
    actions = []
    for assertion in manifest.get("assertions", []):
        if assertion.get("label", "").startswith("c2pa.actions"):
            actions += [
                {
                    "action": a.get("action"),
                    "digitalSourceType": a.get("digitalSourceType"),
                    "softwareAgent": a.get("softwareAgent"),
                }
                for a in assertion.get("data", {}).get("actions", [])
            ]
    generator = manifest.get("claim_generator") or ", ".join(
        str(g.get("name", "")) for g in manifest.get("claim_generator_info", []) if isinstance(g, dict)
    )
    details = {
        "validation_state": state,
        "failures": failures,
        "signer": {
            "issuer": sig.get("issuer"),
            "common_name": sig.get("common_name"),
            "time": sig.get("time"),
            "alg": sig.get("alg"),
        },
        "claim_generator": generator,
        "actions": actions,
        "ingredients": len(manifest.get("ingredients", [])),
        "manifest_label": active_label,
    }
    trusted = "signingCredential.untrusted" not in failures and state == "Trusted"
    signer = sig.get("issuer") or sig.get("common_name") or "unknown issuer"
    if state == "Invalid" or integrity_failures:
        return CheckResult(
            "c2pa",
            "flagged",
            f"The C2PA manifest does not validate ({', '.join(integrity_failures) or state}): the file was changed "
            "after signing, or the manifest is damaged.",
            score=float(len(integrity_failures)),
            details=details,
            method=METHOD_ID,
        )
    listed = ", ".join(str(a["action"]) for a in actions) or "none"
    trust = "on a trust list" if trusted else "not on any trust list available offline"
    return CheckResult(
        "c2pa",
        "ok",
        f"C2PA manifest validates: signed by {signer} ({trust}) with {generator or 'unknown tool'}; actions: {listed}. "
        "It vouches for who signed, not for the scene.",
        score=0.0,
        details=details,
        method=METHOD_ID,
    )

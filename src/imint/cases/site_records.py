"""Records of the sites part that a claim can point at.

* ``scene:ID`` — a scene of a site with the ships detected in it.
* ``change:ID`` — what changed at the scene's site between the previous date and this scene's date
  (arrivals, departures, ships that stayed), computed from the stored detections.

Claims link scenes rather than single ship detections because re-running a detector
replaces its detections (new ids), while a scene, like its evidence file, stays.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from imint.store.models_sites import SceneRow


def scene_evidence(s: Session, record_id: int) -> str | None:
    scene = s.get(SceneRow, record_id)
    return scene.evidence_sha256 if scene else None


RECORD_TYPES = {"scene": scene_evidence, "change": scene_evidence}

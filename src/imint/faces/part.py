"""The faces part: persons, watchlists, photo search, verification, review and clustering."""

from __future__ import annotations

from typing import Any

from imint.parts import Part


class FacesPart(Part):
    name = "faces"
    title = "Faces"
    table_modules = ("imint.faces.tables",)
    migrations = None  # its tables came with the core's first revision (store/migrations/versions/0001)

    def commands(self, app: Any, eval_app: Any) -> None:
        from imint.faces import cli

        cli.register(app, eval_app)

    def routers(self) -> list[Any]:
        from imint.faces import routes

        return [routes.router]

    def record_types(self) -> dict[str, Any]:
        from imint.faces.review import candidate_evidence, face_evidence

        # ``candidate:ID`` is a stored candidate (a face's possible identity); ``match:ID`` is its
        # older name, still accepted so that stored links and old commands keep working.
        return {"face": face_evidence, "candidate": candidate_evidence, "match": candidate_evidence}

    def cards(self) -> dict[str, Any]:
        from imint.faces import cards

        return dict(cards.RENDERERS)

    def jobs(self) -> dict[str, Any]:
        from imint.faces.jobs import HANDLERS

        return dict(HANDLERS)

    def service(self, ws: Any) -> Any:
        from imint.faces.service import FaceService

        return FaceService(ws)

    def evidence_view(self, ws: Any, sha256: str) -> dict[str, Any] | None:
        from imint.faces.review import evidence_faces

        # Always present (an empty list for a file without faces), as the evidence page expects.
        return {"faces": evidence_faces(ws, sha256)}

    def overview(self, ws: Any) -> dict[str, int]:
        from imint.store.counts import count_rows

        return {
            "persons": count_rows(ws, "persons"),
            "watchlists": count_rows(ws, "watchlists"),
            "candidates_to_review": count_rows(ws, "matches", status="candidate"),
        }


PART = FacesPart()

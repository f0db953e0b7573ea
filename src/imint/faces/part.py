"""The faces part: persons, watchlists, photo search, verification, review and clustering."""

from __future__ import annotations

from typing import Any

from imint.parts import Part


def _face_evidence(session: Any, record_id: int) -> str | None:
    from imint.faces.tables import FaceRow

    face = session.get(FaceRow, record_id)
    return face.evidence_sha256 if face else None


def _candidate_evidence(session: Any, record_id: int) -> str | None:
    from imint.faces.tables import FaceRow, Match

    match = session.get(Match, record_id)
    face = session.get(FaceRow, match.face_id) if match else None
    return face.evidence_sha256 if face else None


class FacesPart(Part):
    name = "faces"
    title = "Faces"
    table_modules = ("imint.faces.tables",)
    migrations = None  # its tables came with the core's first revision (store/migrations/versions/0001)

    def commands(self, app: Any, eval_app: Any) -> None:
        from imint.faces import cli

        cli.register(app, eval_app)

    def routers(self) -> list[Any]:
        from imint.api import routes_faces

        return [routes_faces.router]

    def record_types(self) -> dict[str, Any]:
        # ``match:ID`` is a candidate (a face's possible identity); ``face:ID`` a face.
        return {"face": _face_evidence, "match": _candidate_evidence}

    def cards(self) -> dict[str, Any]:
        from imint.faces import cards

        return dict(cards.RENDERERS)

    def jobs(self) -> dict[str, Any]:
        from imint.api import routes_faces

        return {
            "face-search": routes_faces._face_search_job,
            "face-search-folder": routes_faces._face_search_folder_job,
            "face-cluster": routes_faces._face_cluster_job,
        }

    def service(self, ws: Any) -> Any:
        from imint.faces.service import FaceService

        return FaceService(ws)


PART = FacesPart()

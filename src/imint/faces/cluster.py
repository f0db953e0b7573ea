"""Clustering unknown faces with a calibrated threshold, honouring people's edits.

Two faces are joined when their calibrated false-match rate (at the lower quality
of the two) is below the chosen FMR; average linkage over ``log10 FMR`` distances
avoids the chaining of single linkage. A person's merges and splits are stored as
must-link / cannot-link constraints between faces, so they survive re-clustering;
cluster ids, names and promoted persons carry over to the new cluster that holds
most of an old cluster's faces. The clustering itself is ``cluster_dense`` (exact, up to a few
thousand faces) or ``graph_cluster`` (k-NN graph, collections); ``cluster_embeddings`` picks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import func, select

from imint.errors import ConflictError, NotFoundError, ValidationError
from imint.faces.cluster_dense import DEFAULT_CLUSTER_FMR, dense_cluster_embeddings
from imint.faces.gallery import gallery_lock
from imint.faces.graph_cluster import cluster_embeddings as graph_cluster_embeddings
from imint.faces.quality import is_poor
from imint.faces.review import face_dict
from imint.faces.tables import Cluster, ClusterConstraint, FaceRow, Match, Person, ReferencePhoto

if TYPE_CHECKING:
    from imint.faces.calibration import Calibration
    from imint.faces.service import FaceService

DENSE_UP_TO = 5_000  # faces; the dense N x N code is exact and fast below this (200 MB matrix)


def cluster_embeddings(
    embeddings: np.ndarray,
    quality: np.ndarray,
    calibration: Calibration,
    *,
    fmr: float = DEFAULT_CLUSTER_FMR,
    must_link: Iterable[tuple[int, int]] = (),
    cannot_link: Iterable[tuple[int, int]] = (),
) -> np.ndarray:
    """Cluster labels (0..k-1) for row-aligned embeddings; constraints are index pairs.

    Dense average linkage (``cluster_dense``) up to ``DENSE_UP_TO`` faces, the k-NN graph
    clustering (``graph_cluster``) beyond, where the N x N matrix no longer fits."""
    if len(embeddings) <= DENSE_UP_TO:
        return dense_cluster_embeddings(
            embeddings, quality, calibration, fmr=fmr, must_link=must_link, cannot_link=cannot_link
        )
    return graph_cluster_embeddings(
        embeddings, quality, calibration, fmr=fmr, must_link=must_link, cannot_link=cannot_link
    )


def carry_cluster_ids(session: Any, labels: np.ndarray, old_ids: Sequence[int | None]) -> list[int]:
    """Cluster ids for new labels: each new cluster keeps the id (and so the name and the
    promoted person) of the old cluster most of its members were in; the rest get new ids.
    Largest clusters choose first."""
    if len(labels) == 0:
        return []
    groups = [np.flatnonzero(labels == lab) for lab in range(int(labels.max()) + 1)]
    taken: set[int] = set()
    id_of_label: dict[int, int] = {}
    for lab in sorted(range(len(groups)), key=lambda g: -len(groups[g])):
        votes = Counter(old_ids[i] for i in groups[lab] if old_ids[i] is not None)
        for old, _ in votes.most_common():
            if old not in taken and session.get(Cluster, old) is not None:
                id_of_label[lab] = old
                taken.add(old)
                break
    for lab in range(len(groups)):
        if lab not in id_of_label:
            cluster = Cluster()
            session.add(cluster)
            session.flush()
            id_of_label[lab] = cluster.id
    return [id_of_label[int(lab)] for lab in labels]


@dataclass
class ClusterSummary:
    id: int
    name: str
    person: str | None
    face_ids: list[int]
    evidence: list[str]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__, size=len(self.face_ids))


class Clusters:
    """Clustering of a workspace's unknown faces, with merge, split, rename and promote."""

    def __init__(self, service: FaceService) -> None:
        self.service = service
        self.ws = service.ws

    def _unknown_faces(self, session: Any, evidence: set[str] | None) -> list[FaceRow]:
        refs = set(session.scalars(select(ReferencePhoto.face_id)))
        confirmed = set(session.scalars(select(Match.face_id).where(Match.status == "confirmed")))
        q = select(FaceRow).where(FaceRow.model_id == self.service.model_id, FaceRow.embedding.is_not(None))
        rows = session.scalars(q.order_by(FaceRow.id)).all()
        return [
            r
            for r in rows
            if r.id not in refs
            and r.id not in confirmed
            and not is_poor(r.quality_reason)
            and (evidence is None or r.evidence_sha256 in evidence)
        ]

    def run(
        self, paths: Sequence[str | Path] = (), *, fmr: float = DEFAULT_CLUSTER_FMR, progress=None
    ) -> list[ClusterSummary]:  # noqa: ANN001
        """Analyse ``paths`` (if given) and re-cluster every unknown face of the workspace."""
        if not 0 < fmr < 1:
            raise ValidationError("the clustering FMR must be between 0 and 1", subject="fmr")
        if paths:
            self.service.search(paths, progress=progress, with_videos=False)
        cal = self.service.engine.calibration
        with gallery_lock(self.ws), self.ws.session() as s:
            rows = self._unknown_faces(s, None)
            pos = {r.id: i for i, r in enumerate(rows)}
            must, cannot = [], []
            for c in s.scalars(select(ClusterConstraint)):
                if c.face_a in pos and c.face_b in pos:
                    (must if c.kind == "must_link" else cannot).append((pos[c.face_a], pos[c.face_b]))
            if not rows:
                return []
            emb = np.stack([np.frombuffer(r.embedding, np.float32) for r in rows])
            labels = cluster_embeddings(
                emb, np.array([r.quality for r in rows]), cal, fmr=fmr, must_link=must, cannot_link=cannot
            )
            ids = carry_cluster_ids(s, labels, [r.cluster_id for r in rows])
            for row, cid in zip(rows, ids, strict=True):
                row.cluster_id = cid
        return self.list()

    def list(self) -> list[ClusterSummary]:
        with self.ws.session() as s:
            persons = dict(s.execute(select(Person.id, Person.name)).all())
            out = []
            for c in s.scalars(select(Cluster).order_by(Cluster.id)):
                faces = s.scalars(select(FaceRow).where(FaceRow.cluster_id == c.id)).all()
                if not faces:
                    continue
                out.append(
                    ClusterSummary(
                        id=c.id,
                        name=c.name or f"cluster-{c.id}",
                        person=persons.get(c.person_id) if c.person_id else None,
                        face_ids=[f.id for f in faces],
                        evidence=sorted({f.evidence_sha256 for f in faces}),
                    )
                )
            return sorted(out, key=lambda c: -len(c.face_ids))

    def overview(self, limit: int = 200) -> list[dict[str, Any]]:
        """Clusters with their face counts and a sample face, largest first (the clusters page)."""
        with self.ws.session() as s:
            rows = s.execute(
                select(Cluster, func.count(FaceRow.id), func.min(FaceRow.id))
                .outerjoin(FaceRow, FaceRow.cluster_id == Cluster.id)
                .group_by(Cluster.id)
                .order_by(func.count(FaceRow.id).desc())
                .limit(limit)
            ).all()
            names = dict(s.execute(select(Person.id, Person.name)).all())
            return [
                {
                    "id": c.id,
                    "name": c.name,
                    "person_id": c.person_id,
                    "person": names.get(c.person_id, ""),
                    "faces": n,
                    "sample_face_id": first,
                    "created_at": c.created_at,
                }
                for c, n, first in rows
            ]

    def detail(self, cluster_id: int) -> dict[str, Any]:
        """One cluster and its faces."""
        with self.ws.session() as s:
            c = s.get(Cluster, cluster_id)
            if c is None:
                raise NotFoundError("no such cluster", subject=f"cluster {cluster_id}")
            faces = [face_dict(f) for f in s.scalars(select(FaceRow).where(FaceRow.cluster_id == cluster_id))]
            person = s.get(Person, c.person_id) if c.person_id else None
            return {
                "cluster": {
                    "id": c.id,
                    "name": c.name,
                    "person_id": c.person_id,
                    "person": person.name if person else "",
                    "created_at": c.created_at,
                },
                "faces": faces,
            }

    def _cluster(self, s: Any, cluster_id: int) -> Cluster:
        c = s.get(Cluster, cluster_id)
        if c is None:
            raise NotFoundError("no such cluster", subject=str(cluster_id))
        return c

    def rename(self, cluster_id: int, name: str) -> None:
        with gallery_lock(self.ws), self.ws.session() as s:
            self._cluster(s, cluster_id).name = name

    def merge(self, cluster_ids: Sequence[int]) -> int:
        """Merge clusters into the first one; remembered as must-links."""
        if len(cluster_ids) < 2:
            raise ValidationError("merge needs two clusters or more", subject="clusters")
        with gallery_lock(self.ws), self.ws.session() as s:
            keep = self._cluster(s, cluster_ids[0])
            anchor = s.scalar(select(FaceRow.id).where(FaceRow.cluster_id == keep.id).limit(1))
            for cid in cluster_ids[1:]:
                self._cluster(s, cid)
                for f in s.scalars(select(FaceRow).where(FaceRow.cluster_id == cid)):
                    self._constrain(s, anchor, f.id, "must_link")
                    f.cluster_id = keep.id
            return keep.id

    def split(self, cluster_id: int, face_ids: Sequence[int]) -> int:
        """Move faces out of a cluster into a new one; remembered as cannot-links."""
        with gallery_lock(self.ws), self.ws.session() as s:
            self._cluster(s, cluster_id)
            members = {f.id: f for f in s.scalars(select(FaceRow).where(FaceRow.cluster_id == cluster_id))}
            moving = [fid for fid in face_ids if fid in members]
            if not moving or len(moving) == len(members):
                # The ids are well formed; they contradict the cluster as stored (409, like a duplicate name).
                raise ConflictError(
                    "split needs some, but not all, of the cluster's faces", subject=str(cluster_id)
                )
            new = Cluster()
            s.add(new)
            s.flush()
            staying = [fid for fid in members if fid not in moving]
            for a in moving:
                members[a].cluster_id = new.id
                for b in staying:
                    self._constrain(s, a, b, "cannot_link")
            for a in moving[1:]:
                self._constrain(s, moving[0], a, "must_link")
            return new.id

    def _constrain(self, s: Any, a: int, b: int, kind: str) -> None:
        a, b = min(a, b), max(a, b)
        row = s.scalar(
            select(ClusterConstraint).where(ClusterConstraint.face_a == a, ClusterConstraint.face_b == b)
        )
        if row is None:
            s.add(ClusterConstraint(face_a=a, face_b=b, kind=kind, created_by=self.ws.user))
        else:
            row.kind = kind

    def promote(self, cluster_id: int, name: str, *, max_references: int = 5) -> int:
        """Make a cluster a person: its best faces become reference photos."""
        with gallery_lock(self.ws), self.ws.session() as s:
            c = self._cluster(s, cluster_id)
            faces = s.scalars(select(FaceRow).where(FaceRow.cluster_id == cluster_id)).all()
            person = s.scalar(select(Person).where(Person.name == name))
            if person is None:
                person = Person(
                    name=name, created_by=self.ws.user, listing_reason=f"promoted from cluster {cluster_id}"
                )
                s.add(person)
                s.flush()
            # Promoting again (or into a person who has some of these faces) adds only the new ones:
            # a face is one reference photo of a person once (found by the contract check: a 500).
            already = set(
                s.scalars(select(ReferencePhoto.face_id).where(ReferencePhoto.person_id == person.id))
            )
            fresh = [f for f in faces if f.id not in already]
            for f in sorted(fresh, key=lambda f: -f.quality)[:max_references]:
                s.add(
                    ReferencePhoto(
                        person_id=person.id,
                        face_id=f.id,
                        evidence_sha256=f.evidence_sha256,
                        added_by=self.ws.user,
                    )
                )
            c.person_id = person.id
            c.name = name
            pid = person.id
        self.service.invalidate_index()
        return pid

"""Faces: detect, embed, compare, enroll, search, cluster."""

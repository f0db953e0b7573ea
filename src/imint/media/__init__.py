"""Media: the one ingest path, hashing, custody, image decoding."""

from imint.media.images import decode_image, load_image_file
from imint.media.ingest import ingest_file, log_custody, object_path, sha256_file

__all__ = ["decode_image", "ingest_file", "load_image_file", "log_custody", "object_path", "sha256_file"]

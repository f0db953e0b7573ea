"""Sites: watched areas, their scenes, ships found in them, and what changed between dates.

from imint.sites import add_site, list_sites, add_scene, detect_ships, site_changes
"""

from imint.sites.changes import ChangeReport, site_changes
from imint.sites.service import (
    Scene,
    Site,
    add_scene,
    add_site,
    detect_ships,
    detections_geojson,
    get_scene,
    get_site,
    list_scenes,
    list_sites,
    stored_detections,
    write_quicklook,
)

__all__ = [
    "ChangeReport",
    "Scene",
    "Site",
    "add_scene",
    "add_site",
    "detect_ships",
    "detections_geojson",
    "get_scene",
    "get_site",
    "list_scenes",
    "list_sites",
    "site_changes",
    "stored_detections",
    "write_quicklook",
]

"""Every file of a folder into an Agora folder with gtagora-connector, as seed 001 does it.

`Agora.upload(files, target_folder_id, wait=True)`: more than five files go as one zipped
.agora_upload package, a single file as chunks; the call returns when Agora has imported them.
Connection from the environment: AGORA_URL, AGORA_API_KEY (REQUESTS_CA_BUNDLE for TLS).

Usage: python upload_gtagora.py <folder> [project] [target-folder]
"""
import os
import sys
from pathlib import Path

from gtagora import Agora

folder = Path(sys.argv[1])
project_name = sys.argv[2] if len(sys.argv) > 2 else "Wrist Study"
target_name = sys.argv[3] if len(sys.argv) > 3 else "Uploads"
agora = Agora.create(os.environ["AGORA_URL"], api_key=os.environ["AGORA_API_KEY"])
project = next(p for p in agora.get_projects() if p.name == project_name)
target = project.get_root_folder().get_or_create(target_name)
files = sorted(p for p in folder.iterdir() if p.is_file())
state = agora.upload(files, target_folder_id=target.id, wait=True)
assert state is not None and all(f.imported for f in state.files), "not every file was imported"
print("%d files uploaded" % len(files))

"""Every file of a folder into a Grand Challenge archive with gcapi, as its README shows it.

One `add_case_to_archive` per file (a user upload in presigned parts, then an archive item
PATCHed with it). Connection from the environment (`flowctl-sandbox serve --print-env`):
GC_URL, GC_TOKEN, FLOWCTL_SANDBOX_CA.

Usage: python upload_gcapi.py <folder> [archive-slug]
"""
import os
import sys
from pathlib import Path

import gcapi
from gcapi import SocketValueSpec

folder, slug = Path(sys.argv[1]), (sys.argv[2] if len(sys.argv) > 2 else "sandbox-archive")
client = gcapi.Client(token=os.environ["GC_TOKEN"], base_url=os.environ["GC_URL"],
                      verify=os.environ.get("FLOWCTL_SANDBOX_CA") or True)
files = sorted(p for p in folder.iterdir() if p.is_file())
for path in files:
    client.add_case_to_archive(archive_slug=slug,
                               values=[SocketValueSpec(socket_slug="generic-medical-image", files=[path])])
print("%d files uploaded" % len(files))

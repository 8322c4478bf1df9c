"""Every file of a folder into an XNAT experiment resource with xnatpy (PyPI `xnat`).

One `ResourceCatalog.upload` per file (xnatpy's `upload_dir` zips the folder and asks XNAT to
extract it, which flowctl-sandbox does not do). Connection from the environment: XNAT_URL,
XNAT_USER, XNAT_PASS (REQUESTS_CA_BUNDLE for TLS).

Usage: python upload_xnatpy.py <folder> <project> <subject> <experiment> <resource>
"""
import os
import sys
from pathlib import Path

import xnat

folder, project, subject, experiment, label = Path(sys.argv[1]), *sys.argv[2:6]
files = sorted(p for p in folder.iterdir() if p.is_file())
with xnat.connect(os.environ["XNAT_URL"], user=os.environ["XNAT_USER"], password=os.environ["XNAT_PASS"],
                  loglevel="ERROR") as session:
    exp = session.projects[project].subjects[subject].experiments[experiment]
    resource = exp.resources[label] if label in exp.resources else session.classes.ResourceCatalog(parent=exp, label=label)
    for path in files:
        resource.upload(str(path), path.name)
print("%d files uploaded" % len(files))

"""benchmarks/jobs/xnat-dicom-*.yml's work done with xnatpy (PyPI `xnat`), as its users do it:
`download_dir` of one MR session, i.e. one zip of every scan's files
(`/data/experiments/{id}/scans/ALL/files?format=zip`) kept in a temporary file, then extracted
into <output-dir>/<session label>/scans/<id>-<type>/resources/<label>/files/... .
Connection settings come from the environment (XNAT_URL, XNAT_USER, XNAT_PASS).

Usage: python xnat_session_xnatpy.py <output-dir>
"""
import os
import sys

import xnat

PROJECT, SUBJECT, SESSION = "testenv", "SUBJ_001", "SUBJ_001_MR1"

out = sys.argv[1]
with xnat.connect(os.environ["XNAT_URL"], user=os.environ["XNAT_USER"], password=os.environ["XNAT_PASS"],
                  loglevel="ERROR") as session:
    experiment = session.projects[PROJECT].subjects[SUBJECT].experiments[SESSION]
    experiment.download_dir(out, verbose=False)
print("session %s downloaded" % SESSION)

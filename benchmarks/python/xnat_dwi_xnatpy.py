"""jobs/xnat-dwi.yml's work done with xnatpy (PyPI `xnat`), as a user would write it today.

Seed 002 ("Downloading NIfTI resources from XNAT") with xnatpy instead of bxl: for the chosen
subjects of project testenv, every experiment's DWI_ALFA1 / rDWI_ALFA1 scans, the files of their
NIFTI resource that match *.nii.gz, saved as <subject>_<DWI|rDWI>.nii.gz in the output folder.
Connection settings come from the environment (XNAT_URL, XNAT_USER, XNAT_PASS, as
`flowctl-sandbox serve --print-env` prints them).

Usage: python xnat_dwi_xnatpy.py <output-dir>
"""
import fnmatch
import os
import sys

import xnat

PROJECT = "testenv"
SUBJECTS = ["SUBJ_003", "SUBJ_007", "SUBJ_012"]
KINDS = {"DWI_ALFA1": "DWI", "rDWI_ALFA1": "rDWI"}  # scan type -> the layout's `kind` map
RESOURCE, FILES = "NIFTI", "*.nii.gz"

out = sys.argv[1]
downloaded = 0
with xnat.connect(os.environ["XNAT_URL"], user=os.environ["XNAT_USER"], password=os.environ["XNAT_PASS"],
                  loglevel="ERROR") as session:
    project = session.projects[PROJECT]
    for label in SUBJECTS:
        subject = project.subjects[label]
        for experiment in subject.experiments.values():
            for scan in experiment.scans.values():
                kind = KINDS.get(scan.type)
                if kind is None or RESOURCE not in scan.resources:
                    continue
                for name, file in scan.resources[RESOURCE].files.items():
                    if fnmatch.fnmatchcase(name, FILES):
                        file.download(os.path.join(out, "%s_%s.nii.gz" % (label, kind)), verbose=False)
                        downloaded += 1
print("%d files downloaded" % downloaded)

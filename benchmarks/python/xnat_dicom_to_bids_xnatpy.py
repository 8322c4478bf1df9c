"""The work of jobs/xnat-dicom-to-bids.yml done as a script does it today (the reference of
benchmarks/bids.sh): xnatpy (PyPI `xnat`) walks project testenv, downloads each usable scan's
DICOM resource (`resource.download_dir`, one zip per scan), and runs dcm2niix on it, one scan
after another, naming the output as the `bids` layout does (sub-<subject>/ses-<session>/<datatype>/
sub-..._ses-..._run-<scan id>_<suffix>), DICOM kept under sourcedata/.
Connection settings come from the environment (XNAT_URL, XNAT_USER, XNAT_PASS).

Usage: python xnat_dicom_to_bids_xnatpy.py <output-dir>
"""
import os
import re
import subprocess
import sys

import xnat

# The `bids` layout's default rules (first match wins) and jobs/xnat-dicom-to-bids.yml's own map.
EXACT = {"rDWI_ALFA1": ("dwi", "dwi"), "FLAIR": ("anat", "FLAIR")}
RULES = [("dwi|dti|diff", ("dwi", "dwi")), ("flair", ("anat", "FLAIR")), ("t1|mprage|spgr", ("anat", "T1w"))]


def place(scan_type):
    if scan_type in EXACT:
        return EXACT[scan_type]
    for pattern, placed in RULES:
        if re.search(pattern, scan_type, re.IGNORECASE):
            return placed
    return None


def label(text):
    return re.sub(r"[^A-Za-z0-9]", "", text)


out = sys.argv[1]
images = 0
with xnat.connect(os.environ["XNAT_URL"], user=os.environ["XNAT_USER"], password=os.environ["XNAT_PASS"],
                  loglevel="ERROR") as session:
    for subject in session.projects["testenv"].subjects.values():
        for experiment in subject.experiments.values():
            for scan in experiment.scans.values():
                placed = place(scan.type or "")
                if placed is None or scan.quality != "usable" or "DICOM" not in scan.resources:
                    continue
                datatype, suffix = placed
                name = "sub-%s_ses-%s_run-%s_%s" % (label(subject.label), label(experiment.label), label(scan.id), suffix)
                folder = os.path.join("sub-" + label(subject.label), "ses-" + label(experiment.label), datatype)
                dicom = os.path.join(out, "sourcedata", name)
                os.makedirs(dicom, exist_ok=True)
                scan.resources["DICOM"].download_dir(dicom, verbose=False)
                os.makedirs(os.path.join(out, folder), exist_ok=True)
                subprocess.run(["dcm2niix", "-d", "9", "-z", "y", "-b", "y", "-ba", "y", "-f", name, "-o", os.path.join(out, folder),
                                dicom], check=True, stdout=subprocess.DEVNULL)
                images += 1
print("%d images converted" % images)

"""Seed 000 (the PREVENT-AD MRI images downloader notebook), ported to a script for the benchmark.

The loop is the notebook's, request for request: one `requests.post` to log in, then serial
`requests.get` calls (no Session, so a new connection each time, as the notebook does) for the
candidates, each candidate's visits, each visit's metadata and image list, and each image and its
QC. Files land where the notebook put them, relative to the working directory:
<CandID>/<Visit>/session.json, <CandID>/<Visit>/<file>, <CandID>/<Visit>/<file>.qc.json.

Differences from the notebook, all needed to run unattended and to do jobs/preventad-mri.yml's
work: credentials come from the environment (LORIS_URL, LORIS_API_VERSION, LORIS_USER, LORIS_PASS,
as `flowctl-sandbox serve --print-env` prints them) instead of prompts; the job's selection
(visits "PRE*", files "*.mnc") is applied; progress prints are reduced to one summary line.
session.json keeps the notebook's `str(session['Meta'])` (a Python repr, not JSON).

Usage: python preventad_requests.py <output-dir>
"""
import errno
import fnmatch
import json
import os
import sys

import requests

baseurl = os.environ["LORIS_URL"].rstrip("/") + "/api/" + os.environ.get("LORIS_API_VERSION", "v0.0.3-dev")
VISITS, FILES = "PRE*", "*.mnc"  # jobs/preventad-mri.yml's `select.mri`

os.chdir(sys.argv[1])

response = requests.post(url=baseurl + "/login",
                         json={"username": os.environ["LORIS_USER"], "password": os.environ["LORIS_PASS"]},
                         verify=True)
text = response.content.decode("ascii")
if response.status_code != 200:
    sys.exit("login failed: HTTP %d" % response.status_code)
token = json.loads(text)["token"]

candidates = json.loads(requests.get(
    url=baseurl + "/candidates/",
    headers={"Authorization": "Bearer %s" % token}
).content.decode("ascii"))

images = 0
for candidate in candidates["Candidates"]:
    candid = candidate["CandID"]
    sessions = json.loads(requests.get(
        url=baseurl + "/candidates/" + candid,
        headers={"Authorization": "Bearer %s" % token}
    ).content.decode("ascii"))

    for visit in sessions["Visits"]:
        if not fnmatch.fnmatchcase(visit, VISITS):
            continue
        directory = candid + "/" + visit
        try:
            os.makedirs(directory)
        except OSError as e:
            if e.errno != errno.EEXIST:
                raise

        session = json.loads(requests.get(
            url=baseurl + "/candidates/" + candid + "/" + visit,
            headers={"Authorization": "Bearer %s" % token}
        ).content.decode("ascii"))
        with open(directory + "/session.json", "w") as sessionmetafile:
            sessionmetafile.write(str(session["Meta"]))

        files = json.loads(requests.get(
            url=baseurl + "/candidates/" + candid + "/" + visit + "/images",
            headers={"Authorization": "Bearer %s" % token}
        ).content.decode("ascii"))

        for file in files["Files"]:
            filename = file["Filename"]
            if not fnmatch.fnmatchcase(filename, FILES):
                continue
            relativepath = directory + "/" + filename
            if not os.path.isfile(relativepath):
                image = requests.get(
                    url=baseurl + "/candidates/" + candid + "/" + visit + "/images/" + filename,
                    headers={"Authorization": "Bearer %s" % token}
                )
                image.raise_for_status()  # the notebook would save an error page; a benchmark must not
                with open(relativepath, "w+b") as mincfile:
                    mincfile.write(bytes(image.content))
                images += 1

            relativepath = directory + "/" + filename + ".qc.json"
            if not os.path.isfile(relativepath):
                qc = requests.get(
                    url=baseurl + "/candidates/" + candid + "/" + visit + "/images/" + filename + "/qc",
                    headers={"Authorization": "Bearer %s" % token}
                )
                qc.raise_for_status()
                with open(relativepath, "w+b") as qcfile:
                    qcfile.write(bytes(qc.content))

print("%d candidates, %d images downloaded" % (len(candidates["Candidates"]), images))

#!/usr/bin/env bash
# Refreshes the seed corpus of the fuzz targets (Fuzz/Corpus/<target>/, issue #23) from real
# replies: starts `flowctl-sandbox serve` on loopback with a small data set, fetches each
# platform's listings as flowctl asks for them (XNAT ResultSets, LORIS candidates, visits and
# images, Grand Challenge pages, Agora lists), and saves each reply body as one seed file named
# `sandbox-<what>.json`. The job-file seeds are the job files of jobs/ (`jobs-*.yml`) and the
# loader's test fixtures (`fixture-*.yml`); the web folder's are nginx-style autoindex replies
# and index files written here (the sandbox has no web folder emulator).
#
#   bash scripts/fuzz-corpus.sh                    # builds the sandbox (debug) when needed
#   SANDBOX=.build/release/flowctl-sandbox bash scripts/fuzz-corpus.sh
#
# Prints each file it writes and the corpus size; replies over 16 KiB (the fuzzers' -max_len)
# are skipped. Only loopback addresses are used.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
CORPUS=$REPO/Fuzz/Corpus
if [ -z "${SANDBOX:-}" ]; then
    nice -n "${NICE:-15}" swift build --package-path "$REPO" --product flowctl-sandbox >/dev/null
    SANDBOX=$REPO/.build/debug/flowctl-sandbox
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/flowctl-corpus.XXXXXX")
"$SANDBOX" serve --host 127.0.0.1 --seed 23 --xnat-subjects 3 --xnat-dicom-files 2 --loris-candidates 4 \
    --loris-files-per-visit 2..3 --ca-out "$WORK/ca.pem" --print-env >"$WORK/env" 2>"$WORK/log" &
SANDBOX_PID=$!
trap 'kill $SANDBOX_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 300); do grep -q FLOWCTL_SANDBOX_CA "$WORK/env" 2>/dev/null && break; sleep 0.1; done
grep -q FLOWCTL_SANDBOX_CA "$WORK/env" || { echo "the sandbox did not start:" >&2; cat "$WORK/log" >&2; exit 1; }
# shellcheck disable=SC1091
. "$WORK/env"

# Job files.
mkdir -p "$CORPUS/FuzzJobFile"
for f in "$REPO"/jobs/*.yml; do cp "$f" "$CORPUS/FuzzJobFile/jobs-$(basename "$f")"; done
for f in "$REPO"/Tests/FlowJobFileTests/Fixtures/*.yml; do cp "$f" "$CORPUS/FuzzJobFile/fixture-$(basename "$f")"; done

python3 - "$CORPUS" <<'PY'
import base64, json, os, ssl, sys, urllib.request

corpus = sys.argv[1]
env = os.environ
tls = ssl.create_default_context(cafile=env["FLOWCTL_SANDBOX_CA"])
MAX = 16384

def get(url, headers=None, data=None):
    assert url.startswith(("http://127.0.0.1:", "https://127.0.0.1:", "http://localhost:", "https://localhost:")), url
    req = urllib.request.Request(url, headers=headers or {}, data=data)
    with urllib.request.urlopen(req, context=tls if url.startswith("https") else None, timeout=30) as r:
        return r.read()

def save(target, name, body):
    if len(body) > MAX:
        print(f"  skipped {target}/{name}: {len(body)} bytes > {MAX}")
        return
    os.makedirs(os.path.join(corpus, target), exist_ok=True)
    with open(os.path.join(corpus, target, f"sandbox-{name}.json"), "wb") as f:
        f.write(body)
    print(f"  {target}/sandbox-{name}.json ({len(body)} bytes)")

# XNAT: every level's ResultSet, down to one scan's files.
x = env["XNAT_URL"]
auth = {"Authorization": "Basic " + base64.b64encode(f'{env["XNAT_USER"]}:{env["XNAT_PASS"]}'.encode()).decode()}
def xnat(path, name):
    body = get(x + path + ("&" if "?" in path else "?") + "format=json", auth)
    save("FuzzXNAT", name, body)
    return json.loads(body)["ResultSet"]["Result"]
xnat("/data/projects", "projects")
subjects = xnat("/data/projects/testenv/subjects", "subjects")
experiments = xnat(f'/data/projects/testenv/subjects/{subjects[0]["ID"]}/experiments', "experiments")
e = experiments[0]["ID"]
scans = xnat(f"/data/experiments/{e}/scans", "scans")
xnat(f"/data/experiments/{e}/scans/{scans[0]['ID']}/resources", "resources")
for scan in scans[:2]:
    for resource in ("NIFTI", "DICOM"):
        xnat(f"/data/experiments/{e}/scans/{scan['ID']}/resources/{resource}/files", f"files-{scan['ID']}-{resource}")

# LORIS: log in for a token, then candidates, a candidate's visits, a visit, its images.
l = env["LORIS_API_URL"]
token = json.loads(get(l + "/login", {"Content-Type": "application/json"},
                       json.dumps({"username": env["LORIS_USER"], "password": env["LORIS_PASS"]}).encode()))["token"]
bearer = {"Authorization": "Bearer " + token}
candidates = json.loads(get(l + "/candidates", bearer))
save("FuzzLORIS", "candidates", json.dumps(candidates).encode())
for c in candidates["Candidates"][:2]:
    cand = get(f'{l}/candidates/{c["CandID"]}', bearer)
    save("FuzzLORIS", f'candidate-{c["CandID"]}', cand)
    for visit in json.loads(cand)["Visits"][:1]:
        save("FuzzLORIS", f'visit-{c["CandID"]}-{visit}', get(f'{l}/candidates/{c["CandID"]}/{visit}', bearer))
        save("FuzzLORIS", f'images-{c["CandID"]}-{visit}', get(f'{l}/candidates/{c["CandID"]}/{visit}/images', bearer))

# Grand Challenge: the pages the listing reads.
g = env["GC_URL"].rstrip("/") + "/"
gc = {"Authorization": "Bearer " + env["GC_TOKEN"], "Accept": "application/json"}
archives = json.loads(get(g + "archives/?limit=100&offset=0", gc))
save("FuzzGrandChallenge", "archives", json.dumps(archives).encode())
save("FuzzGrandChallenge", "reader-studies", get(g + "reader-studies/?limit=100&offset=0", gc))
for a in archives["results"][:2]:
    save("FuzzGrandChallenge", f'images-{a["pk"][:8]}', get(g + f'cases/images/?archive={a["pk"]}&limit=5&offset=0', gc))
save("FuzzGrandChallenge", "images-past-the-end", get(g + "cases/images/?limit=5&offset=100000", gc))

# Agora: projects, exams, series, datasets (v1 with datafiles, v2 without), a folder's items.
ag = env["AGORA_URL"].rstrip("/")
key = {"Authorization": "X-Agora-Api-Key " + env["AGORA_API_KEY"]}
projects = json.loads(get(ag + "/api/v2/project/?limit=10000000000", key))
save("FuzzAgora", "projects", json.dumps(projects).encode())
rows = lambda v: v if isinstance(v, list) else v["results"]
p = rows(projects)[0]
exams = json.loads(get(ag + f'/api/v2/project/{p["id"]}/exam/?limit=10000000000', key))
save("FuzzAgora", "exams", json.dumps(exams).encode())
ex = rows(exams)[0]
series = json.loads(get(ag + f'/api/v1/exam/{ex["id"]}/series/?limit=10000000000', key))
save("FuzzAgora", "series", json.dumps(series).encode())
if rows(series):
    save("FuzzAgora", "series-datasets", get(ag + f'/api/v1/serie/{rows(series)[0]["id"]}/datasets/?limit=10000000000', key))
save("FuzzAgora", "exam-datasets", get(ag + f'/api/v2/exam/{ex["id"]}/datasets/?limit=10000000000', key))
if p.get("root_folder"):
    save("FuzzAgora", "folder-items", get(ag + f'/api/v1/folder/{p["root_folder"]}/items/?limit=10000000000', key))

# Web folder: nginx `autoindex_format json` replies and index files, as nginx and users write them.
web = os.path.join(corpus, "FuzzWebFolder")
os.makedirs(web, exist_ok=True)
seeds = {
    "autoindex-root.json": '[{ "name":"sub-01", "type":"directory", "mtime":"Mon, 07 Dec 2026 03:00:00 GMT" },\n'
                           '{ "name":"README.txt", "type":"file", "mtime":"Mon, 07 Dec 2026 03:00:00 GMT", "size":1234 }\n]',
    "autoindex-files.json": '[{ "name":"T1.nii.gz", "type":"file", "mtime":"Mon, 07 Dec 2026 03:00:00 GMT", "size":8388608 },\n'
                            '{ "name":"dwi.bval", "type":"file", "mtime":"Mon, 07 Dec 2026 03:00:00 GMT", "size":120 },\n'
                            '{ "name":"link", "type":"other", "mtime":"Mon, 07 Dec 2026 03:00:00 GMT" }\n]',
    "autoindex-empty.json": "[]",
    "index-paths.txt": "# subjects of the study\nsub-01/anat/sub-01_T1w.nii.gz\nsub-01/dwi/sub-01_dwi.bval\n/sub-02/anat/T1.nii.gz\n\n",
    "index-urls.txt": "http://127.0.0.1:8080/data/a.nii.gz\nhttps://localhost/b/c.dcm\nrelative/d.txt\r\n",
}
for name, text in seeds.items():
    with open(os.path.join(web, name), "w") as f:
        f.write(text)
    print(f"  FuzzWebFolder/{name} ({len(text)} bytes)")
PY
du -sh "$CORPUS"

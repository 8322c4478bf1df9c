"""Replays seed 000 (PREVENT-AD downloader): login, candidates, visits, images, downloads, QC, with ASCII decoding."""
import hashlib, json, os, requests

ep = json.loads(os.environ["SANDBOX_JSON"])["platforms"]["loris"]
baseurl = ep["url"] + "/api/" + ep["apiVersion"]
r = requests.post(baseurl + "/login", json={"username": ep["username"], "password": ep["password"]})
assert r.status_code == 200, r.text
token = json.loads(r.content.decode("ascii"))["token"]
h = {"Authorization": "Bearer %s" % token}
assert requests.get(baseurl + "/candidates/").status_code == 401
candidates = json.loads(requests.get(baseurl + "/candidates/", headers=h).content.decode("ascii"))
files = 0
for candidate in candidates["Candidates"]:
    candid = candidate["CandID"]
    assert isinstance(candid, str)
    sessions = json.loads(requests.get(baseurl + "/candidates/" + candid, headers=h).content.decode("ascii"))
    assert 4 <= len(sessions["Visits"]) <= 5
    for visit in sessions["Visits"]:
        session = json.loads(requests.get(baseurl + "/candidates/" + candid + "/" + visit, headers=h).content.decode("ascii"))
        assert session["Meta"]["Visit"] == visit
        listing = json.loads(requests.get(baseurl + "/candidates/" + candid + "/" + visit + "/images", headers=h).content.decode("ascii"))
        assert 9 <= len(listing["Files"]) <= 19
        for f in listing["Files"][:2]:
            url = baseurl + "/candidates/" + candid + "/" + visit + "/images/" + f["Filename"]
            image = requests.get(url, headers=h)
            assert image.status_code == 200 and len(image.content) == int(image.headers["Content-Length"])
            qc = json.loads(requests.get(url + "/qc", headers=h).content.decode("ascii"))
            assert qc["Meta"]["File"] == f["Filename"] and len(qc["Caveats"]) == 1
            files += 1
# Current API flavour: ETag + If-None-Match -> 304.
v3 = ep["url"] + "/api/v0.0.3"
first = candidates["Candidates"][0]["CandID"]
fname = json.loads(requests.get(f"{v3}/candidates/{first}/PREBL00/images", headers=h).text)["Files"][0]["Filename"]
g = requests.get(f"{v3}/candidates/{first}/PREBL00/images/{fname}", headers=h)
assert requests.get(f"{v3}/candidates/{first}/PREBL00/images/{fname}", headers={**h, "If-None-Match": g.headers["ETag"]}).status_code == 304
print(f"{len(candidates['Candidates'])} candidates walked, {files} images + QC fetched, 304 ok")

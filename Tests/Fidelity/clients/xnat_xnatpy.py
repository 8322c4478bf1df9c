"""xnatpy: connect() with its data model (over HTTPS, CA from REQUESTS_CA_BUNDLE), list, download a scan."""
import hashlib, json, os, tempfile
import xnat

ep = json.loads(os.environ["SANDBOX_JSON"])["platforms"]["xnat"]
assert ep["url"].startswith("https://"), "fidelity runs XNAT over HTTPS"
with xnat.connect(ep["url"], user=ep["username"], password=ep["password"], loglevel="ERROR") as s:
    project = s.projects["testenv"]
    labels = sorted(subject.label for subject in project.subjects.values())
    assert labels[0] == "SUBJ_001" and len(labels) == 20, labels
    experiment = list(project.subjects["SUBJ_003"].experiments.values())[0]
    scan = experiment.scans["DWI_ALFA1"]
    assert sorted(r.label for r in scan.resources.values()) == ["DICOM", "NIFTI"], scan.resources
    out = tempfile.mkdtemp()
    count = 0
    for name, f in scan.resources["NIFTI"].files.items():
        path = os.path.join(out, name)
        f.download(path, verbose=False)
        digest = hashlib.md5(open(path, "rb").read()).hexdigest()
        listing = s.get_json(scan.resources["NIFTI"].uri + "/files")["ResultSet"]["Result"]
        assert digest == next(r["digest"] for r in listing if r["Name"] == name), name
        count += 1
    scan.download_dir(out, verbose=False)
    print(f"{len(labels)} subjects, {count} NIFTI files md5-verified, download_dir ok")

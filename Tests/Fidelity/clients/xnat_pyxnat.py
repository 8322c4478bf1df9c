"""pyxnat (CSV listings): projects, subjects, scans, files."""
import json, os
from pyxnat import Interface

ep = json.loads(os.environ["SANDBOX_JSON"])["platforms"]["xnat"]
iface = Interface(server=ep["url"], user=ep["username"], password=ep["password"])
assert "testenv" in iface.select.projects().get(), "project testenv"
subjects = iface.select.project("testenv").subjects().get()
assert len(subjects) == 20 and iface.select.project("testenv").subject("SUBJ_001").exists(), subjects
exp = iface.select.project("testenv").subject("SUBJ_002").experiments().get()[0]
scans = [sc.attrs.get("type") for sc in iface.select.experiment(exp).scans()]
assert "DWI_ALFA1" in scans and "rDWI_ALFA1" in scans, scans
files = iface.select.experiment(exp).scan("2").resource("NIFTI").files().get()
assert any(f.endswith(".nii.gz") for f in files), files
iface.disconnect()
print(f"{len(subjects)} subjects, scans {scans}, {len(files)} files")

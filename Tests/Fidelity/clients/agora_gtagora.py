"""gtagora-connector (PyPI) against the sandbox's Agora emulator: seed 001's calls and more.

Lists projects / exams / series / datasets with server-side filters, downloads and checks
SHA-1s, creates folders, tags, uploads (a directory of >5 files goes as a zipped
.agora_upload package, a single file as chunks), re-uploads (nothing new is created), runs
a task to the end and a failing one. Prints one summary line.
"""
import hashlib
import json
import os
import tempfile
from pathlib import Path

from gtagora import Agora
from gtagora.exception import AgoraException
from gtagora.models.dataset import DatasetType

info = json.loads(os.environ["SANDBOX_JSON"])["platforms"]["agora"]


def sha1(path):
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


# gtagora-connector drops any path in the URL: the emulator lives at the origin's root.
agora = Agora.create(info["url"] + "/ignored/path", api_key=info["apiKey"])
assert agora.get_current_user().username == "sandbox"

projects = agora.get_projects()
names = [p.name for p in projects]
assert "Wrist Study" in names, names
project = next(p for p in projects if p.name == "Wrist Study")
assert agora.get_project(project.id).name == "Wrist Study"

# Seed 001, verbatim in spirit.
myagora = agora.get_myagora()
root = myagora.get_root_folder()
new_folder = root.get_or_create("New Folder")
assert root.get_or_create("New Folder").id == new_folder.id, "get_or_create made a second folder"
assert "New Folder" in [f.name for f in root.get_folders()]
exams = myagora.get_exams(filters={"name": "Wrist"})
assert [e.name for e in exams] == ["Wrist"], [e.name for e in exams]
raw_files = []
for s in exams[0].get_series():
    for dataset in s.get_datasets(filters={"type": DatasetType.PHILIPS_RAW}):
        assert dataset.type == DatasetType.PHILIPS_RAW
        raw_files += [d.original_filename for d in dataset.get_datafiles()]
assert len(raw_files) == 6 and all(n.endswith((".raw", ".lab")) for n in raw_files), raw_files

# Wrist Study: exams with a name filter, series, datasets, downloads.
all_exams = project.get_exams()
assert len(all_exams) == 6, [e.name for e in all_exams]
wrist = project.get_exams(filters={"name": "Wrist 01"})
assert len(wrist) == 1
exam = wrist[0]
series = exam.get_series()
assert [s.name for s in series] == ["T1 SE", "PD TSE", "B0 Map"], [s.name for s in series]
assert len(exam.get_datasets()) == 8  # 3 raw + 3 DICOM + 1 PARREC + the exam card
raw = series[0].get_datasets(filters={"type": DatasetType.PHILIPS_RAW})
assert len(raw) == 1
dataset = raw[0]
downloaded = 0
with tempfile.TemporaryDirectory() as tmp:
    for path in dataset.download(Path(tmp)):
        datafile = next(d for d in dataset.get_datafiles() if d.original_filename == path.name)
        assert path.stat().st_size == datafile.size
        assert sha1(path) == datafile.sha1, path
        downloaded += 1
    exam.download(Path(tmp) / "exam")
    written = sorted(p.relative_to(Path(tmp) / "exam").as_posix() for p in (Path(tmp) / "exam").rglob("*") if p.is_file())
    assert "Wrist 01/T1 SE/wrist_01_1_t1_se.raw" in written, written
    assert "Wrist 01/wrist_01.examcard" in written, written
    downloaded += len(written)
assert agora.get_dataset(dataset.id).name == dataset.name
assert agora.get_series(series[0].id).name == "T1 SE"

# Tags.
tag = agora.create_tag("good", project=project)
assert tag is not None and tag.label == "good"
dataset.tag(tag)
exam.tag(tag)
assert [t.label for t in dataset.get_tags()] == ["good"]
assert [t.label for t in exam.get_tags()] == ["good"]
assert [t.id for t in agora.get_tags(name="good")] == [tag.id]

# Uploads: 7 files (> 5: zipped into one .agora_upload) and one single file (chunks).
results = project.get_root_folder().get_or_create("Results")
with tempfile.TemporaryDirectory() as tmp:
    folder = Path(tmp) / "wrist-results"
    folder.mkdir()
    for i in range(7):
        (folder / f"result_{i}.txt").write_text(f"result {i}\n" * (i + 1))
    state = agora.upload([folder], target_folder_id=results.id, wait=True)
    assert state is not None and all(f.imported for f in state.files), [(f.target, f.imported) for f in state.files]
    single = Path(tmp) / "report.csv"
    single.write_bytes(os.urandom(20000))
    state = agora.upload([single], target_folder_id=results.id, wait=True)
    assert all(f.imported for f in state.files)
    listed = {d.name: d for d in results.get_datasets()}
    assert set(listed) == {f"result_{i}.txt" for i in range(7)} | {"report.csv"}, sorted(listed)
    report = listed["report.csv"].get_datafiles()[0]
    assert report.sha1 == sha1(single)
    # Same files again: imported (SHA-1s match) but nothing new appears in the folder.
    state = agora.upload([folder], target_folder_id=results.id, wait=True)
    assert all(f.imported for f in state.files)
    assert len(results.get_datasets()) == 8

# Tasks: Reconstruct finishes and names its output; the failing one raises.
tasks = {t.name: t for t in project.get_tasks()}
assert {"Reconstruct", "Reconstruct (failing)"} <= set(tasks), sorted(tasks)
task = agora.get_task(tasks["Reconstruct"].id)
finished = task.run(target=results, raw=dataset).join()
assert finished is not None and finished.data["state"] == 2, finished
outputs = [o["id"] for o in finished.data["related_objects"]]
assert len(outputs) == 1 and agora.get_dataset(outputs[0]).name == dataset.name + "_recon"
try:
    tasks["Reconstruct (failing)"].run(target=results, raw=dataset.id).join()
    raise AssertionError("the failing task did not fail")
except AgoraException as e:
    assert "synthetic failure" in str(e), str(e)

print(f"gtagora-connector: {len(projects)} projects, {len(all_exams)} exams, {downloaded} files downloaded, "
      f"8 files uploaded (zip + chunks), tag + task runs ok")

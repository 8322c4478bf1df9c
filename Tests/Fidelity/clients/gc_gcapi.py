"""gcapi: list the coronacases.org images, download one, upload a case, run the lobe algorithm, read its outputs."""
import hashlib, json, os, tempfile, time
from pathlib import Path

import gcapi
from gcapi import SocketValueSpec

sandbox = json.loads(os.environ["SANDBOX_JSON"])
ep = sandbox["platforms"]["gc"]
assert ep["url"].startswith("https://") and ep["url"].endswith("/api/v1/"), ep["url"]
# gcapi verifies TLS: trust the sandbox's CA (httpx takes a CA bundle path as `verify`).
c = gcapi.Client(token=ep["token"], base_url=ep["url"], verify=sandbox["caCertificate"])

# Archive listing (iterate_all pages until an empty page) and its images.
archive = c.archives.detail(slug="coronacases.org")
images = list(c.images.iterate_all(params={"archive": archive.pk}))
names = sorted(i.name for i in images)
assert names == [f"coronacases_{n:03d}.mha" for n in range(1, 11)], names
items = list(c.archive_items.iterate_all(params={"archive": archive.pk}))
assert len(items) == 10 and all(v.socket.slug == v.interface.slug for i in items for v in i.values), items[:1]

# Download one image (files[0]: MHD) and compare with a second, raw GET of its file URL.
out = Path(tempfile.mkdtemp())
first = c.images.detail(pk=images[0].pk)
paths = c.images.download(pk=first.pk, output_directory=out)
data = paths[0].read_bytes()
assert len(data) > 0 and data == c(url=first.files[0].file, follow_redirects=True).content

# Upload a case into the sandbox archive (user upload in parts, then create + PATCH the item).
local = out / "fidelity_case.mha"
payload = os.urandom(300_000)
local.write_bytes(payload)
post = c.add_case_to_archive(archive_slug="sandbox-archive",
                             values=[SocketValueSpec(socket_slug="generic-medical-image", files=[local])])
uploaded = next(i for i in c.images.iterate_all(params={"name": "fidelity_case.mha"}))
back = out / "back"
back.mkdir()
assert c.images.download(pk=uploaded.pk, output_directory=back)[0].read_bytes() == payload

# Run the algorithm on an archive image and poll the job (gcapi has no wait helper).
job = c.start_algorithm_job(algorithm_slug="pulmonary-lobe-segmentation",
                            inputs=[SocketValueSpec(socket_slug="ct-image", existing_image_api_url=images[1].api_url)])
assert job.status == "Validating inputs", job.status
seen = []
for _ in range(600):
    detail = c.algorithm_jobs.detail(pk=job.pk)
    if not seen or seen[-1] != detail.status:
        seen.append(detail.status)
    if detail.status in ("Succeeded", "Failed", "Cancelled"):
        break
    time.sleep(0.1)
assert detail.status == "Succeeded", seen
assert [o.interface.slug for o in detail.outputs] == ["pulmonary-lobes"], detail.outputs
mask_dir = out / "mask"
c.download_socket_value(detail.outputs[0], output_directory=mask_dir)
masks = list(mask_dir.rglob("*.mha"))
assert len(masks) == 1 and masks[0].stat().st_size > 0, masks
by_input = [j.pk for j in c.algorithm_jobs.iterate_all(params={"input_image": images[1].pk})]
assert by_input == [job.pk], by_input
print(f"{len(names)} images listed, 1 downloaded ({len(data)} B), 1 uploaded byte-identical "
      f"({len(payload)} B), job {' -> '.join(seen)}, mask {masks[0].stat().st_size} B")

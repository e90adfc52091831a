"""``imagegen serve --data-dir``: images outlive the serve, and other commands find a running one.
Real processes and HTTP: the serve, its backing process (moto S3 with its buckets on disk), the
CLI."""

import json
import pickle
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devstack.s3_persistence import FORMAT
from devstack.stack import ENDED_WITH_EARLIER_RUN, KEPT_BUCKET, LocalStack
from tests.conftest import http, post_json
from tests.e2e.test_cli import IMAGEGEN, assert_one_line_error, clean_env, imagegen, serving


def gallery(url: str) -> list[dict]:
    status, _, raw = http("GET", f"{url}/images")
    assert status == 200, raw
    return json.loads(raw)["images"]


def test_a_restarted_serve_finds_the_earlier_image_in_its_gallery(tmp_path):
    with serving("--data-dir", str(tmp_path)) as url:
        status, _, answer = post_json(f"{url}/images", {"prompt": "a lighthouse", "seed": 7})
        assert status == 200, answer
        image = answer["images"][0]
        before = http("GET", image["url"])[2]
    assert not (tmp_path / "serve.json").exists()  # a stopped serve is not found by commands
    with serving("--data-dir", str(tmp_path)) as url:
        health = json.loads(http("GET", f"{url}/health")[2])
        (found,) = gallery(url)
        status, headers, after = http("GET", found["url"])  # a fresh URL from the new S3
    assert health["data_dir"] == str(tmp_path.absolute())
    assert found["key"] == image["key"] and found["seed"] == 7
    assert found["model"] == answer["model_id"] and found["bytes"] == len(before)
    assert status == 200 and after == before and headers["Content-Type"] == "image/png"


def test_writes_overwrites_deletes_and_bucket_settings_outlive_the_s3_process(tmp_path):
    expire = {"ID": "expire", "Status": "Enabled", "Filter": {"Prefix": "images/"}}
    lifecycle = {"Rules": [{**expire, "Expiration": {"Days": 7}}]}
    with LocalStack(data_dir=tmp_path, separate_process=True) as stack:
        s3 = stack.s3_client()
        s3.put_object(Bucket=stack.bucket, Key="kept", Body=b"one", Metadata={"seed": "1"})
        s3.put_object(Bucket=stack.bucket, Key="kept", Body=b"two", Metadata={"seed": "2"})
        s3.put_object(Bucket=stack.bucket, Key="gone", Body=b"x")
        s3.delete_object(Bucket=stack.bucket, Key="gone")
        s3.put_object(Bucket=stack.bucket, Key="odd/ké y?#", Body=b"odd", ContentType="text/plain")
        s3.put_bucket_lifecycle_configuration(Bucket=stack.bucket, LifecycleConfiguration=lifecycle)
    with LocalStack(data_dir=tmp_path, separate_process=True) as stack:
        s3 = stack.s3_client()
        assert stack.bucket == KEPT_BUCKET
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=stack.bucket)["Contents"]]
        kept = s3.get_object(Bucket=stack.bucket, Key="kept")
        odd = s3.get_object(Bucket=stack.bucket, Key="odd/ké y?#")
        rules = s3.get_bucket_lifecycle_configuration(Bucket=stack.bucket)["Rules"]
    assert keys == ["kept", "odd/ké y?#"]
    assert kept["Body"].read() == b"two" and kept["Metadata"] == {"seed": "2"}
    assert odd["Body"].read() == b"odd" and odd["ContentType"] == "text/plain"
    assert rules[0]["ID"] == "expire" and rules[0]["Expiration"] == {"Days": 7}


def test_a_second_serve_on_the_same_data_dir_is_refused_in_one_line(tmp_path):
    with serving("--data-dir", str(tmp_path)) as url:
        result = imagegen("serve", "--port", "0", "--data-dir", str(tmp_path))
    assert_one_line_error(result, f"{tmp_path} is in use by another imagegen serve ({url})")


def test_generate_without_api_uses_the_running_serve(tmp_path):
    data = tmp_path / "data"
    with serving("--data-dir", str(data)) as url:
        result = imagegen(
            "generate",
            "a fox",
            "--seed",
            "3",
            "--out",
            str(tmp_path / "out"),
            "--data-dir",
            str(data),
        )
        assert result.returncode == 0, result.stderr
        assert f"no --api given: using the imagegen serve at {url}" in result.stderr
        (image,) = gallery(url)
    assert image["seed"] == 3 and image["key"] in result.stdout
    assert "url (expires " in result.stdout  # the serve's image keeps its URL


@contextmanager
def killed_serve(data: Path, *args: str) -> Iterator[str]:
    """``imagegen serve`` on ``data``, ended by SIGKILL: nothing of it runs its clean-up."""
    with subprocess.Popen(
        [*IMAGEGEN, "serve", "--port", "0", "--data-dir", str(data), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=clean_env(),
    ) as proc:
        try:
            yield proc.stdout.readline().rsplit(" ", 1)[-1].strip()
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)


def test_a_killed_serve_keeps_what_it_answered_and_is_not_used(tmp_path):
    """SIGKILL leaves serve.json behind; the lock dies with the process, so commands start their
    own stack; the next serve finds the image, and ends the jobs the dead one left unfinished."""
    data = tmp_path / "data"
    with killed_serve(data) as url:
        answer = post_json(f"{url}/images", {"prompt": "a fox", "seed": 9})[2]
    assert (data / "serve.json").exists()
    result = imagegen("generate", "a cat", "--out", str(tmp_path / "out"), "--data-dir", str(data))
    assert result.returncode == 0, result.stderr
    assert "starting a local stack" in result.stderr and url not in result.stderr
    with killed_serve(data, "--latency", "60") as url:  # the job cannot end before the kill
        status, _, job = post_json(f"{url}/images", {"prompt": "a fox", "async": True})
        assert status == 202, job
    with serving("--data-dir", str(data)) as url:
        assert [i["key"] for i in gallery(url)] == [answer["images"][0]["key"]]
        status, _, raw = http("GET", f"{url}/jobs/{job['job_id']}")
    ended = json.loads(raw)
    assert status == 200 and ended["status"] == "failed", ended
    assert ended["error"] == {"code": "worker_failed", "message": ENDED_WITH_EARLIER_RUN}


def test_an_unreadable_object_is_set_aside_and_the_others_are_served(tmp_path):
    with LocalStack(data_dir=tmp_path, separate_process=True) as stack:
        s3 = stack.s3_client()
        s3.put_object(Bucket=stack.bucket, Key="damaged", Body=b"x")
        (damaged,) = Path(tmp_path, "buckets", KEPT_BUCKET, "keys").iterdir()
        s3.put_object(Bucket=stack.bucket, Key="fine", Body=b"y")
    damaged.write_bytes(b"not a pickle")
    with LocalStack(data_dir=tmp_path, separate_process=True) as stack:
        listed = stack.s3_client().list_objects_v2(Bucket=stack.bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["fine"]
    assert damaged.with_suffix(".unreadable").read_bytes() == b"not a pickle"


class _Payload:
    """What a hostile data dir would ship: a pickle that runs code when it is read."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "ran"))


def test_a_pickle_this_user_did_not_seal_is_never_run(tmp_path):
    with LocalStack(data_dir=tmp_path, separate_process=True) as stack:
        stack.s3_client().put_object(Bucket=stack.bucket, Key="k", Body=b"x")
    (saved,) = Path(tmp_path, "buckets", KEPT_BUCKET, "keys").iterdir()
    marker = tmp_path / "ran"
    saved.write_bytes(bytes(32) + pickle.dumps(_Payload(marker)))  # a seal made without the key
    with LocalStack(data_dir=tmp_path, separate_process=True) as stack:
        listed = stack.s3_client().list_objects_v2(Bucket=stack.bucket)
    assert "Contents" not in listed and not marker.exists()
    assert saved.with_suffix(".unreadable").exists()


def test_a_serve_refuses_data_it_cannot_use_in_one_line(tmp_path):
    (tmp_path / "a-file").write_text("")
    result = imagegen("serve", "--port", "0", "--data-dir", str(tmp_path / "a-file"))
    assert_one_line_error(result, f"cannot keep data in {tmp_path / 'a-file'}: it is a file")
    assert_one_line_error(imagegen("serve", "--data-dir", ""), "--data-dir: must name a folder")
    buckets = tmp_path / "data" / "buckets"
    buckets.mkdir(parents=True)
    (buckets / "format.json").write_text("{")
    result = imagegen("serve", "--port", "0", "--data-dir", str(tmp_path / "data"))
    assert_one_line_error(result, f"cannot read {buckets / 'format.json'}")
    (buckets / "format.json").write_text(json.dumps({"format": FORMAT}))
    (buckets / KEPT_BUCKET).mkdir()
    (buckets / KEPT_BUCKET / "bucket.pickle").write_bytes(b"damaged")
    result = imagegen("serve", "--port", "0", "--data-dir", str(tmp_path / "data"))
    assert_one_line_error(result, f"cannot read the saved bucket {buckets / KEPT_BUCKET}")


def test_commands_treat_a_data_dir_they_cannot_read_as_no_serve(tmp_path):
    (tmp_path / "a-file").write_text("")
    result = imagegen("models", "--data-dir", str(tmp_path / "a-file"))
    assert result.returncode == 0, result.stderr
    assert "no imagegen serve on" in result.stderr and "starting a local stack" in result.stderr


def test_a_restarted_serve_answers_a_seeded_request_from_its_kept_cache(tmp_path):
    env = clean_env(IMAGEGEN_CACHE_SEEDED="true")
    body = {"prompt": "a fox", "seed": 5}
    with serving("--data-dir", str(tmp_path), env=env) as url:
        first = post_json(f"{url}/images", body)[2]["images"][0]
    with serving("--data-dir", str(tmp_path), env=env) as url:
        again = post_json(f"{url}/images", body)[2]["images"][0]
    assert first["cached"] is False and again["cached"] is True
    assert (tmp_path / "cache-secret").stat().st_mode & 0o777 == 0o600

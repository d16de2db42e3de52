"""The Python package against the rnnkit command's --json output on the same models.

Needs librnnkit.so (RNNKIT_LIBRARY or pkg-config) and the rnnkit executable (RNNKIT_EXECUTABLE);
scripts/test.sh sets both up from the build."""

import json
import os
import pathlib
import subprocess

import numpy as np
import pytest

import rnnkit

ROOT = pathlib.Path(__file__).resolve().parents[2]
CUISINE = ROOT / "Fixtures" / "cuisine.rnn"
CUISINE_H5 = ROOT / "Fixtures" / "cuisine.h5"
DENSE = ROOT / "Fixtures" / "dense-f32.rnn"
F16 = ROOT / "Fixtures" / "token-f16.rnn"
SEED = "My favourite dish is sushi. So, my favourite cuisine is"


def cli(*arguments, input=None):
    executable = os.environ["RNNKIT_EXECUTABLE"]
    done = subprocess.run([executable, *map(str, arguments)], capture_output=True, text=True, input=input)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(params=[CUISINE, CUISINE_H5], ids=["rnn", "hdf5"])
def model(request):
    with rnnkit.Model.open(request.param) as opened:
        yield opened, request.param


def test_shape_and_activations_match_inspect(model):
    opened, path = model
    info = cli("inspect", path, "--json")["model"]
    assert (opened.hidden_size, opened.input_size, opened.output_size) == (
        info["hidden_size"],
        info["input_size"],
        info["output_size"],
    )
    assert opened.hidden_activation == info["hidden_activation"]
    assert opened.output_activation == info["output_activation"]
    assert opened.takes_tokens


def test_forward_matches_the_cli_within_1e_6(model):
    opened, path = model
    expected = cli("forward", path, "--ids", "3,1,4,1,5", "--json")
    hidden, outputs = opened.forward([3, 1, 4, 1, 5])
    # The same library computes both; only the JSON's decimal rendering differs.
    np.testing.assert_allclose(hidden, np.array(expected["hidden"], dtype=np.float32), rtol=0, atol=1e-6)
    np.testing.assert_allclose(outputs, np.array(expected["output"], dtype=np.float32), rtol=0, atol=1e-6)


def test_predict_matches_the_cli(model):
    opened, path = model
    expected = cli("predict", path, SEED, "--top", "5", "--json")["predictions"]
    got = opened.predict(SEED, k=5)
    assert [token for token, _ in got] == [entry["token"] for entry in expected]
    np.testing.assert_allclose([p for _, p in got], [e["probability"] for e in expected], rtol=1e-6, atol=0)
    assert got[0][0] == "japanese"


def test_generate_matches_the_cli(model):
    opened, path = model
    prompt = "My favourite dish is pizza."
    expected = cli("generate", path, prompt, "--max-tokens", "6", "--seed", "3", "--temperature", "0.8", "--json")
    text = opened.generate(prompt, max_tokens=6, temperature=0.8, seed=3)
    assert expected["text"].endswith(text), (expected["text"], text)
    assert len(text) > 0


def test_score_matches_the_cli(tmp_path, model):
    opened, path = model
    text = "my favourite dish is sushi .\nso , my favourite cuisine is japanese .\n"
    (tmp_path / "text.txt").write_text(text)
    expected = cli("score", path, tmp_path / "text.txt", "--json")
    got = opened.score(text)
    assert got["predicted"] == expected["predicted"]
    assert got["cross_entropy"] == pytest.approx(expected["cross_entropy"], rel=1e-12)


def test_tensors_are_read_only_views_of_the_mapped_file():
    opened = rnnkit.Model.open(CUISINE)
    W = opened.tensor("W")
    assert W.shape == (64, 64 + 175) and W.dtype == np.float32
    assert not W.flags.writeable
    with pytest.raises(ValueError):
        W[0, 0] = 1
    # The view's address lies in a mapping of the .rnn file itself: no copy was made.
    address = W.__array_interface__["data"][0]
    mapped = []
    for line in pathlib.Path("/proc/self/maps").read_text().splitlines():
        span, *rest = line.split()
        if rest and rest[-1] == str(CUISINE):
            start, end = (int(x, 16) for x in span.split("-"))
            mapped.append((start, end))
    assert any(start <= address < end for start, end in mapped), mapped
    # The array keeps the model open after the last Python reference to the model goes.
    first = W[0, :4].copy()
    del opened
    np.testing.assert_array_equal(W[0, :4], first)


def test_half_precision_tensors_keep_their_dtype():
    with rnnkit.Model.open(F16) as opened:
        V = opened.tensor("V")
        assert V.dtype == np.float16


def test_dense_models_run_on_vectors():
    with rnnkit.Model.open(DENSE) as opened:
        assert not opened.takes_tokens
        vectors = np.linspace(-1, 1, 3 * opened.input_size, dtype=np.float32).reshape(3, opened.input_size)
        hidden, outputs = opened.forward(vectors)
        assert hidden.shape == (3, opened.hidden_size) and outputs.shape == (3, opened.output_size)
        assert np.all(np.isfinite(outputs))


def test_vocabulary_round_trips():
    with rnnkit.Model.open(CUISINE) as opened:
        vocabulary = opened.vocabulary
        assert len(vocabulary) == 175
        assert opened.id("japanese") == vocabulary.index("japanese")
        assert opened.id("not-a-token") is None


def test_errors_are_exceptions_with_a_status(tmp_path):
    with pytest.raises(rnnkit.RNNKitError) as missing:
        rnnkit.Model.open(tmp_path / "missing.rnn")
    assert missing.value.status == 2 and "missing.rnn" in str(missing.value)
    with pytest.raises(rnnkit.RNNKitError) as crashed:
        rnnkit.Model.open(ROOT / "Fixtures" / "hostile" / "libhdf5-segfault.h5")
    assert crashed.value.status == 4 and "crashed" in str(crashed.value)


def test_convert_writes_a_verified_copy(tmp_path):
    out = tmp_path / "cuisine.safetensors"
    rnnkit.convert(CUISINE, out, dtype="f16")
    with rnnkit.Model.open(out) as back, rnnkit.Model.open(CUISINE) as original:
        assert back.format == "safetensors"
        np.testing.assert_allclose(back.tensor("W"), original.tensor("W"), atol=1e-3, rtol=1e-3)
    with pytest.raises(rnnkit.RNNKitError) as exists:
        rnnkit.convert(CUISINE, out)
    assert exists.value.status == 6

package checkpoints

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// replaceTensorFile rewrites a checkpoint's tensor file and records the new file's size
// and SHA-256 in state.json (edited as plain JSON), as a careless tool would: the damage
// is then inside the file, not in its digest.
func replaceTensorFile(t *testing.T, ckDir, file string, ts []Tensor) {
	t.Helper()
	var b bytes.Buffer
	if err := EncodeSafetensors(&b, ts, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ckDir, file), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	sp := filepath.Join(ckDir, StateFile)
	raw, err := os.ReadFile(sp)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b.Bytes())
	d := st["files"].(map[string]any)[file].(map[string]any)
	d["sha256"] = hex.EncodeToString(sum[:])
	d["size"] = b.Len()
	out, _ := json.Marshal(st)
	if err := os.WriteFile(sp, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func editFile(t *testing.T, path string, edit func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, edit(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedCheckpoints damages the newest of two checkpoints in each way a checkpoint
// can be damaged. Load must refuse it with an error naming the file and the problem and
// return no checkpoint; LoadLatestIntact must fall back to the older one and say why.
func TestDamagedCheckpoints(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string) // dir is step-0000020
		file   string                         // the file the error must name
		want   string
	}{
		{"truncated model", func(t *testing.T, dir string) {
			editFile(t, filepath.Join(dir, ModelFile), func(b []byte) []byte { return b[:len(b)-100] })
		}, ModelFile, "truncated"},
		{"truncated optimizer to 5 bytes", func(t *testing.T, dir string) {
			editFile(t, filepath.Join(dir, OptimizerFile), func(b []byte) []byte { return b[:5] })
		}, OptimizerFile, "truncated"},
		{"bytes flipped in tensor data", func(t *testing.T, dir string) {
			editFile(t, filepath.Join(dir, ModelFile), func(b []byte) []byte { b[len(b)-1] ^= 0xff; b[len(b)-20] ^= 1; return b })
		}, ModelFile, "SHA-256"},
		{"header not JSON", func(t *testing.T, dir string) {
			editFile(t, filepath.Join(dir, ModelFile), func(b []byte) []byte { b[9] = 'x'; return b })
		}, ModelFile, "header is not valid JSON"},
		{"header length beyond the file", func(t *testing.T, dir string) {
			editFile(t, filepath.Join(dir, OptimizerFile), func(b []byte) []byte {
				binary.LittleEndian.PutUint64(b, uint64(len(b)))
				return b
			})
		}, OptimizerFile, "runs past the end of the file"},
		{"tensor missing from the file", func(t *testing.T, dir string) {
			ck := sample(20, 0)
			replaceTensorFile(t, dir, ModelFile, ck.Model[1:]) // drops bn1.running_mean
		}, ModelFile, "missing tensors bn1.running_mean"},
		{"tensor not listed in state.json", func(t *testing.T, dir string) {
			ck := sample(20, 0)
			replaceTensorFile(t, dir, ModelFile, append(ck.Model, Tensor{Name: "extra", Shape: []int{1}, Data: []float32{1}}))
		}, ModelFile, "tensors state.json does not list: extra"},
		{"wrong dtype", func(t *testing.T, dir string) {
			ck := sample(20, 0)
			ck.Model[1].Data64 = []float64{1, 2}
			ck.Model[1].Data = nil
			replaceTensorFile(t, dir, ModelFile, ck.Model)
		}, ModelFile, `tensor "conv1.bias" is F64; checkpoints hold F32 (and I64 counters) only`},
		{"wrong shape", func(t *testing.T, dir string) {
			ck := sample(20, 0)
			ck.Model[3].Shape = []int{2, 2, 16} // upscore2.weight, no longer its momentum's shape
			replaceTensorFile(t, dir, ModelFile, ck.Model)
		}, OptimizerFile, `tensor "upscore2.weight" has shape [2 2 4 4] but its parameter has [2 2 16]`},
		{"tensor file missing", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, OptimizerFile))
		}, OptimizerFile, "missing"},
		{"state.json missing", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, StateFile))
		}, StateFile, "missing: not a complete checkpoint folder"},
		{"state.json not JSON", func(t *testing.T, dir string) {
			editFile(t, filepath.Join(dir, StateFile), func(b []byte) []byte { return b[:len(b)/2] })
		}, StateFile, "not a valid state file"},
		{"state.json of another step", func(t *testing.T, dir string) {
			editFile(t, filepath.Join(dir, StateFile), func(b []byte) []byte {
				return bytes.Replace(b, []byte(`"step": 20`), []byte(`"step": 21`), 1)
			})
		}, StateFile, "step 21 does not match its folder step-0000020"},
		{"state.json from a newer fcn", func(t *testing.T, dir string) {
			editFile(t, filepath.Join(dir, StateFile), func(b []byte) []byte {
				return bytes.Replace(b, []byte(`"format_version": 1`), []byte(`"format_version": 9`), 1)
			})
		}, StateFile, "format_version 9 is newer"},
		{"state.json without a digest", func(t *testing.T, dir string) {
			editFile(t, filepath.Join(dir, StateFile), func(b []byte) []byte {
				return bytes.Replace(b, []byte(`"optimizer.safetensors"`), []byte(`"optimiser.safetensors"`), 1)
			})
		}, StateFile, "files has no entry for optimizer.safetensors"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			run := t.TempDir()
			for _, s := range []int{10, 20} {
				if _, err := Save(run, sample(s, 0), Retention{}); err != nil {
					t.Fatal(err)
				}
			}
			dir := filepath.Join(run, DirName, "step-0000020")
			c.damage(t, dir)
			ck, err := Load(dir)
			if err == nil {
				t.Fatal("Load accepted the damaged checkpoint")
			}
			if ck != nil {
				t.Error("Load returned a checkpoint along with its error")
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.Contains(msg, filepath.Join(dir, c.file)) && !strings.Contains(msg, c.file) {
				t.Errorf("error %q does not name %s", msg, c.file)
			}
			if !strings.Contains(msg, c.want) {
				t.Errorf("error %q does not say %q", msg, c.want)
			}

			ck, p, warnings, err := LoadLatestIntact(run)
			if err != nil {
				t.Fatalf("LoadLatestIntact: %v", err)
			}
			if ck.State.Step != 10 || filepath.Base(p) != "step-0000010" || !sameBits(ck.Model, sortedByName(sample(10, 0).Model)) {
				t.Errorf("fell back to step %d at %s, want step 10", ck.State.Step, p)
			}
			if len(warnings) != 1 || !strings.Contains(warnings[0], "refused "+dir) || !strings.Contains(warnings[0], c.want) {
				t.Errorf("warnings %q, want one saying why step-0000020 was refused", warnings)
			}
		})
	}
}

// TestLeftoverTemporaryFolder: a save interrupted before its rename leaves a temporary
// folder; it is never loaded, it is reported, and the next save removes it.
func TestLeftoverTemporaryFolder(t *testing.T) {
	run := t.TempDir()
	if _, err := Save(run, sample(20, 0), Retention{}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(run, DirName)
	// What an interrupted save of step 30 looks like: a complete model file, nothing else.
	tmp := filepath.Join(dir, ".tmp-step-0000030-4242")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "step-0000020", ModelFile))
	os.WriteFile(filepath.Join(tmp, ModelFile), b, 0o644)

	if p, err := Latest(run); err != nil || filepath.Base(p) != "step-0000020" {
		t.Errorf("Latest = %s, %v", p, err)
	}
	ck, p, warnings, err := LoadLatestIntact(run)
	if err != nil || ck.State.Step != 20 || filepath.Base(p) != "step-0000020" {
		t.Fatalf("LoadLatestIntact = %s, %v", p, err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], tmp) || !strings.Contains(warnings[0], "interrupted save") {
		t.Errorf("warnings %q, want one naming %s", warnings, tmp)
	}
	if _, err := Load(tmp); err == nil || !strings.Contains(err.Error(), filepath.Join(tmp, StateFile)) {
		t.Errorf("Load of the temporary folder: %v", err)
	}
	if _, err := Save(run, sample(30, 0), Retention{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("the next save left %s (%v)", tmp, err)
	}
}

// TestCrashBeforePointerUpdate: a save cut off between renaming its folder and updating
// "latest" leaves a complete newer folder; the pointer's checkpoint is used and the
// newer one reported, and saving that step again replaces it.
func TestCrashBeforePointerUpdate(t *testing.T) {
	run := t.TempDir()
	for _, s := range []int{10, 20} {
		if _, err := Save(run, sample(s, 0), Retention{}); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(run, DirName)
	os.WriteFile(filepath.Join(dir, LatestFile), []byte("step-0000010\n"), 0o644)
	ck, _, warnings, err := LoadLatestIntact(run)
	if err != nil || ck.State.Step != 10 {
		t.Fatalf("LoadLatestIntact: %v", err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "step-0000020: newer than step-0000010") {
		t.Errorf("warnings %q", warnings)
	}
	if _, err := Save(run, sample(20, 0.5), Retention{}); err != nil {
		t.Fatal(err)
	}
	if ck, _, warnings, err := LoadLatestIntact(run); err != nil || ck.State.Step != 20 || len(warnings) != 0 {
		t.Errorf("after saving again: step %v, warnings %q, %v", ck, warnings, err)
	}
}

func TestNoIntactCheckpoint(t *testing.T) {
	run := t.TempDir()
	if _, _, _, err := LoadLatestIntact(run); !errors.Is(err, ErrNoCheckpoint) {
		t.Errorf("empty run: %v", err)
	}
	for _, s := range []int{1, 2} {
		p, err := Save(run, sample(s, 0), Retention{})
		if err != nil {
			t.Fatal(err)
		}
		editFile(t, filepath.Join(p, ModelFile), func(b []byte) []byte { return b[:len(b)-1] })
	}
	ck, p, warnings, err := LoadLatestIntact(run)
	if ck != nil || p != "" || !errors.Is(err, ErrNoCheckpoint) {
		t.Fatalf("got %v at %q, %v", ck, p, err)
	}
	for _, s := range []string{"step-0000001", "step-0000002"} {
		if !strings.Contains(err.Error(), filepath.Join(run, DirName, s, ModelFile)+": truncated") {
			t.Errorf("error %q does not say why %s was refused", err, s)
		}
	}
	if len(warnings) != 2 {
		t.Errorf("warnings %q", warnings)
	}
	// A pointer naming a missing folder is reported.
	os.WriteFile(filepath.Join(run, DirName, LatestFile), []byte("step-0000009"), 0o644)
	if _, _, warnings, _ := LoadLatestIntact(run); len(warnings) != 3 || !strings.Contains(warnings[0], "latest names step-0000009, which does not exist") {
		t.Errorf("warnings %q", warnings)
	}
}

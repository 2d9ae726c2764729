package torch

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// base is make_fixtures.py's arange(24).reshape(4, 6) / 8, the values every dtype
// fixture is made from (exact in float16 and bfloat16).
func base(i, j int) float64 { return float64(i*6+j) / 8 }

// TestReadDtypes reads every dtype and layout of dtypes.pth, in both formats, and
// checks the values against what make_fixtures.py computed them from.
func TestReadDtypes(t *testing.T) {
	for _, file := range []string{"dtypes.pth", "dtypes_legacy.pth"} {
		t.Run(file, func(t *testing.T) {
			sd, err := ReadStateDict(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]float64{}
			shapes := map[string][]int{}
			for _, x := range sd.Tensors {
				v := x.Data64
				if v == nil {
					for _, f := range x.Data {
						v = append(v, float64(f))
					}
				} else if x.Name != "f64" {
					t.Errorf("%s stored as float64", x.Name)
				}
				got[x.Name], shapes[x.Name] = v, x.Shape
			}
			if len(got["f64"]) > 0 && sd.Tensors[3].Data64 == nil {
				t.Errorf("f64 not kept as Data64")
			}
			want := map[string][]float64{}
			for i := 0; i < 4; i++ {
				for j := 0; j < 6; j++ {
					for _, k := range []string{"f32", "f16", "bf16", "f64"} {
						want[k] = append(want[k], base(i, j))
					}
				}
			}
			for j := 0; j < 6; j++ { // transposed: (6, 4)
				for i := 0; i < 4; i++ {
					want["transposed"] = append(want["transposed"], base(i, j))
				}
			}
			for k := 5; k < 17; k++ { // sliced: arange(40)/4 [5:17]
				want["sliced"] = append(want["sliced"], float64(k)/4)
			}
			for i := 1; i < 4; i++ { // strided: [1:, ::2]
				for j := 0; j < 6; j += 2 {
					want["strided"] = append(want["strided"], base(i, j))
				}
			}
			want["scalar"] = []float64{2.5}
			wantShape := map[string][]int{"f32": {4, 6}, "f16": {4, 6}, "bf16": {4, 6}, "f64": {4, 6}, "transposed": {6, 4}, "sliced": {3, 4}, "strided": {3, 3}, "scalar": {}}
			for name, w := range want {
				g, ok := got[name]
				if !ok {
					t.Errorf("%s: missing", name)
					continue
				}
				if !slices.Equal(shapes[name], wantShape[name]) {
					t.Errorf("%s: shape %v, want %v", name, shapes[name], wantShape[name])
				}
				if len(g) != len(w) {
					t.Errorf("%s: %d values, want %d", name, len(g), len(w))
					continue
				}
				for i := range w {
					if g[i] != w[i] {
						t.Errorf("%s[%d] = %v, want %v", name, i, g[i], w[i])
						break
					}
				}
			}
			if len(sd.Ints) != 1 || sd.Ints[0].Name != "i64" || len(sd.Ints[0].Data) != 1 || sd.Ints[0].Data[0] != 7 {
				t.Errorf("ints = %+v, want i64 = 7", sd.Ints)
			}
		})
	}
}

// TestReadWrapped finds the state_dict bare, under "state_dict" and under "model", and
// in the legacy format.
func TestReadWrapped(t *testing.T) {
	for _, tc := range []struct{ file, under string }{
		{"small.pth", ""}, {"small_legacy.pth", ""}, {"wrapped_state_dict.pth", "state_dict"}, {"wrapped_model.pth", "model"},
	} {
		sd, err := ReadStateDict(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Errorf("%s: %v", tc.file, err)
			continue
		}
		if sd.Under != tc.under || strings.Join(sd.Names(), ",") != "a.bias,a.weight" {
			t.Errorf("%s: under %q names %v, want %q [a.bias a.weight]", tc.file, sd.Under, sd.Names(), tc.under)
		}
	}
}

// TestReadBad: each bad file gives an error naming the file and the place, never a panic.
func TestReadBad(t *testing.T) {
	dir := t.TempDir()
	notPickle := filepath.Join(dir, "text.pth")
	if err := os.WriteFile(notPickle, []byte("hello world"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A zip whose pickle is {"epoch": 1}: a dict, but no tensors anywhere.
	noTensors := filepath.Join(dir, "epoch.pth")
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	w, err := zw.Create("archive/data.pkl")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("\x80\x02}q\x00X\x05\x00\x00\x00epochq\x01K\x01s."))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(noTensors, zb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, want string }{
		{noTensors, `no state_dict: the file is a dict without tensors and without a "state_dict" or "model" entry holding them (keys: epoch)`},
		{"testdata/evil.pth", "pickle global os.system is not allowed"},
		{"testdata/missing_storage.pth", `storage "1": the archive has no entry archive/data/1`},
		{"testdata/truncated.pth", "zip archive"},
		{"testdata/truncated_legacy.pth", "truncated file"},
		{notPickle, "not a PyTorch file"},
		{filepath.Join(dir, "none.pth"), "no such file"},
	} {
		_, err := ReadStateDict(tc.file)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.file) {
			t.Errorf("%s: error %v, want one naming the file and containing %q", tc.file, err, tc.want)
		}
	}
}

// FuzzReadStateDict: no input panics or hangs the reader. Seeds are the fixtures.
func FuzzReadStateDict(f *testing.F) {
	for _, name := range []string{"small.pth", "small_legacy.pth", "dtypes.pth", "dtypes_legacy.pth", "evil.pth", "missing_storage.pth", "truncated.pth", "truncated_legacy.pth", "wrapped_model.pth"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "f.pth")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		sd, err := ReadStateDict(p)
		if err == nil && sd == nil {
			t.Fatal("nil state dict without an error")
		}
	})
}

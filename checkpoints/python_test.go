package checkpoints

import (
	"bytes"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestChecksumByHand(t *testing.T) {
	// 1.0 is 0x3f800000, 2.0 is 0x40000000; 1.0 as F64 is words 0x00000000 and 0x3ff00000.
	if got := Checksum(Tensor{Data: []float32{1, 2}}); got != 0x7f800000 {
		t.Errorf("Checksum(F32 [1 2]) = %08x", got)
	}
	if got := Checksum(Tensor{Data64: []float64{1, 1}}); got != 0x7fe00000 {
		t.Errorf("Checksum(F64 [1 1]) = %08x", got)
	}
	if got := Checksum(Tensor{Data: []float32{math.Float32frombits(0xffffffff), math.Float32frombits(2)}}); got != 1 {
		t.Errorf("Checksum wraps mod 2^32: %08x", got)
	}
}

// pythonWithNumpy finds a python3 that can import numpy, or skips.
func pythonWithNumpy(t *testing.T) string {
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if path, err := exec.LookPath(p); err == nil && exec.Command(path, "-c", "import numpy").Run() == nil {
			return path
		}
	}
	t.Skip("no python3 with numpy (apt-get install python3-numpy)")
	return ""
}

// TestPythonReader runs scripts/read_safetensors.py, an independent reader using only
// json, struct and numpy, on a model.safetensors written by Save (plus an F64 tensor in a
// second file), and compares every name, shape, sum and checksum with the Go values.
func TestPythonReader(t *testing.T) {
	py := pythonWithNumpy(t)
	run := t.TempDir()
	ck := sample(9, 0)
	ck.Model = append(ck.Model, Tensor{Name: "scalar", Shape: []int{}, Data: []float32{-3.25}}, Tensor{Name: "empty", Shape: []int{0, 4}, Data: []float32{}})
	p, err := Save(run, ck, Retention{})
	if err != nil {
		t.Fatal(err)
	}
	f64 := filepath.Join(t.TempDir(), "f64.safetensors")
	ts64 := []Tensor{{Name: "w64", Shape: []int{3}, Data64: []float64{math.Pi, -1e300, 5e-324}}}
	if err := WriteSafetensors(f64, ts64, nil); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, filepath.Join("..", "scripts", "read_safetensors.py"), filepath.Join(p, ModelFile), f64)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("read_safetensors.py: %v\n%s", err, stderr.String())
	}
	want := append(sortedByName(ck.Model), ts64...)
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	if !strings.Contains(string(out), `metadata={"format": "pt"}`) {
		t.Errorf("metadata not printed as {\"format\": \"pt\"}:\n%s", out)
	}
	if len(lines) != len(want) {
		t.Fatalf("%d tensor lines, want %d:\n%s", len(lines), len(want), out)
	}
	for i, w := range want {
		fields := strings.Split(lines[i], "\t")
		if len(fields) != 5 {
			t.Fatalf("line %q", lines[i])
		}
		shape := make([]string, len(w.Shape))
		for j, d := range w.Shape {
			shape[j] = strconv.Itoa(d)
		}
		dtype := map[Dtype]string{F32: "float32", F64: "float64"}[w.Dtype()]
		if fields[0] != w.Name || fields[1] != dtype || fields[2] != "["+strings.Join(shape, ", ")+"]" {
			t.Errorf("line %q, want %s %s %v", lines[i], w.Name, dtype, w.Shape)
		}
		if fields[4] != fmt.Sprintf("u32sum=%08x", Checksum(w)) {
			t.Errorf("%s: python %s, Go u32sum=%08x", w.Name, fields[4], Checksum(w))
		}
		var sum, scale float64
		for _, v := range w.Data {
			sum += float64(v)
			scale += math.Abs(float64(v))
		}
		for _, v := range w.Data64 {
			sum += v
			scale += math.Abs(v)
		}
		got, err := strconv.ParseFloat(strings.TrimPrefix(fields[3], "sum="), 64)
		if err != nil || math.Abs(got-sum) > 1e-8*scale {
			t.Errorf("%s: python %s, Go sum=%.9g", w.Name, fields[3], sum)
		}
	}
}

package main

import (
	"context"
	"encoding/json"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/layers"
)

// fcn bench --json prints one row per workload and pass, with the fields the
// comparison script reads; W4 also reports allocations and its per-layer breakdown, GEMM
// its allocations and the FMA roof, and every row its peak resident set where Linux
// lets it be measured.
func TestBenchJSON(t *testing.T) {
	code, out, errs := runFCN(t, "bench", "--json", "--iters", "1", "--warmup", "0", "--batch", "1", "--threads", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("output is not a JSON array: %v\n%s", err, out)
	}
	want := []string{"W1/fwd", "W1/fwdbwd", "W2/fwd", "W2/fwdbwd", "W2/fwdbwd_frozen", "W3/fwd", "W3/fwdbwd", "W4/step", "GEMM/1024³"}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %s", len(rows), len(want), out)
	}
	for i, r := range rows {
		if got := r["id"].(string) + "/" + r["pass"].(string); got != want[i] {
			t.Errorf("row %d is %s, want %s", i, got, want[i])
		}
		for _, k := range []string{"median_ms", "gflops"} {
			if v, ok := r[k].(float64); !ok || !(v > 0) || math.IsInf(v, 0) {
				t.Errorf("%s: %s = %v", want[i], k, r[k])
			}
		}
		if r["threads"].(float64) != 2 || r["kernel"].(string) == "" {
			t.Errorf("%s: threads %v kernel %v", want[i], r["threads"], r["kernel"])
		}
		_, hasAllocs := r["allocs_per_step"]
		if hasAllocs != (r["id"] == "W4" || r["id"] == "GEMM") {
			t.Errorf("%s: allocs_per_step present = %v", want[i], hasAllocs)
		}
		rss, hasRSS := r["peak_rss_bytes"].(float64)
		if hasRSS && !(rss > 1<<20) {
			t.Errorf("%s: peak_rss_bytes = %v", want[i], rss)
		}
		if !hasRSS && rssMeasurable {
			t.Errorf("%s: no peak_rss_bytes although this system reports it", want[i])
		}
	}
	gemmRow := rows[len(rows)-1]
	if roof, ok := gemmRow["fma_roof_gflops"].(float64); ok && !(roof > 0 && gemmRow["fma_roof_isa"] != "") {
		t.Errorf("GEMM: fma_roof_gflops %v, isa %v", roof, gemmRow["fma_roof_isa"])
	}
	w4 := rows[len(rows)-2]
	ls, _ := w4["layers"].([]any)
	seen := map[string]bool{}
	for _, l := range ls {
		m := l.(map[string]any)
		seen[m["name"].(string)] = true
		if m["name"] == "conv4_2" && !(m["fwd_ms"].(float64) > 0 && m["bwd_ms"].(float64) > 0) {
			t.Errorf("conv4_2 times: %v", m)
		}
	}
	for _, n := range []string{"conv1_1", "conv4_2", "upscore2", "upscore8", "loss"} {
		if !seen[n] {
			t.Errorf("W4 breakdown lacks %s: %v", n, ls)
		}
	}
}

// rssMeasurable says whether this system lets the peak resident set be reset and read.
var rssMeasurable = func() bool {
	_, ok := peakRSS()
	return ok && resetPeakRSS()
}()

func TestParseVmHWM(t *testing.T) {
	for _, tc := range []struct {
		status string
		want   int64
		ok     bool
	}{
		{"Name:\tfcn\nVmPeak:\t 9000 kB\nVmHWM:\t    1536 kB\nVmRSS:\t 1000 kB\n", 1536 * 1024, true},
		{"VmHWM: 0 kB\n", 0, true},
		{"Name:\tfcn\n", 0, false},
		{"VmHWM:\t12 MB\n", 0, false},
		{"VmHWM:\tlots kB\n", 0, false},
	} {
		got, ok := parseVmHWM([]byte(tc.status))
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseVmHWM(%q) = %d, %v; want %d, %v", tc.status, got, ok, tc.want, tc.ok)
		}
	}
}

func TestBenchTable(t *testing.T) {
	code, out, errs := runFCN(t, "bench", "--only", "w2", "--iters", "1", "--warmup", "0", "--batch", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, s := range []string{"GEMM kernel", "W2", "fwdbwd_frozen", "median ms", "GFLOP/s"} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
	if strings.Contains(out, "W1") || strings.Contains(out, "W4") || strings.Contains(out, "1024³") {
		t.Errorf("--only w2 ran other workloads:\n%s", out)
	}
}

func TestBenchBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--threads", "0"}, "--threads"},
		{[]string{"--iters", "0"}, "--iters"},
		{[]string{"--warmup", "-1"}, "--warmup"},
		{[]string{"--batch", "0"}, "--batch"},
		{[]string{"--only", "W1,W9"}, "W9"},
		{[]string{"--precision", "fp16"}, "--precision"},
		{[]string{"extra"}, "extra"},
	} {
		code, _, errs := runFCN(t, append([]string{"bench"}, tc.args...)...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q (want it to name %s)", tc.args, code, errs, tc.want)
		}
	}
}

// A training step of the benchmark's model (every kernel path: 3×3 and 1×1 convs,
// several images side by side at the small stages, the flipped input gradient, a
// learned and a frozen bilinear deconv, SGD) gives the same bits with 1 and 2 threads.
// So does it in bf16 (--precision bf16, train.precision: bf16).
func TestStepBitIdenticalAcrossThreads(t *testing.T) {
	for _, prec := range layers.Precisions {
		t.Run(string(prec), func(t *testing.T) {
			if err := prec.Supported(); err != nil {
				t.Skip(err)
			}
			stepBitIdentical(t, prec)
		})
	}
}

func stepBitIdentical(t *testing.T, prec layers.Precision) {
	run := func(procs int) (loss []float64, params [][]float32) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		s, err := newBenchStepper(3, 48, 64, 5, prec)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := s.step(context.Background()); err != nil {
				t.Fatal(err)
			}
			loss = append(loss, s.g.Loss())
		}
		for _, p := range s.g.Params() {
			params = append(params, append([]float32(nil), p.Value.Data().([]float32)...))
		}
		return loss, params
	}
	l1, p1 := run(1)
	l2, p2 := run(2)
	for i := range l1 {
		if math.Float64bits(l1[i]) != math.Float64bits(l2[i]) {
			t.Errorf("step %d: loss %v with 1 thread, %v with 2", i, l1[i], l2[i])
		}
	}
	if !(l1[1] < l1[0]) {
		t.Errorf("the loss did not go down over two steps: %v", l1)
	}
	for i := range p1 {
		for j := range p1[i] {
			if math.Float32bits(p1[i][j]) != math.Float32bits(p2[i][j]) {
				t.Fatalf("parameter %d element %d: %v with 1 thread, %v with 2", i, j, p1[i][j], p2[i][j])
			}
		}
	}
}

// --precision bf16 runs and says so in every row.
func TestBenchPrecisionBF16(t *testing.T) {
	if err := layers.BF16.Supported(); err != nil {
		t.Skip(err)
	}
	code, out, errs := runFCN(t, "bench", "--json", "--only", "W1", "--precision", "bf16", "--iters", "1", "--warmup", "0", "--batch", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("want 2 rows of W1: %v\n%s", err, out)
	}
	for _, r := range rows {
		if r["precision"] != "bf16" {
			t.Errorf("row %v/%v: precision %v, want bf16", r["id"], r["pass"], r["precision"])
		}
	}
}

func TestBenchGEMMTable(t *testing.T) {
	code, out, errs := runFCN(t, "bench", "--only", "gemm", "--iters", "1", "--warmup", "0", "--threads", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "GEMM") || !strings.Contains(out, "1024³") || !strings.Contains(out, "FMA roof") {
		t.Errorf("table lacks the GEMM row or the FMA roof:\n%s", out)
	}
}

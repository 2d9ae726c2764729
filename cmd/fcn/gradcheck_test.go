package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/fcn-dev/fcn/autodiff"
	"github.com/fcn-dev/fcn/layers"
)

func gradcheck(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = runGradcheck(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), err
}

// `fcn gradcheck --json` covers every registered layer type and the whole small graph,
// and every max_rel_err is below 1e-6. The full suite takes about 5 CPU seconds, most
// of them in the two whole-graph cases, which -short leaves out.
func TestGradcheckJSON(t *testing.T) {
	var want []string
	for _, typ := range layers.Types() {
		want = append(want, typ.Name)
	}
	args := []string{"--json"}
	if testing.Short() {
		args = append(args, "--run", "^("+strings.Join(want, "|")+")/")
	} else {
		want = append(want, "graph")
	}
	out, errs, err := gradcheck(t, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, errs)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("stdout is not a JSON array: %v\n%s", err, out)
	}
	layersSeen := map[string]int{}
	for _, r := range rows {
		for _, k := range []string{"layer", "case", "tensor", "n", "max_rel_err", "max_abs_err", "eps", "passed"} {
			if _, ok := r[k]; !ok {
				t.Fatalf("row lacks %q: %v", k, r)
			}
		}
		layer, _ := r["layer"].(string)
		layersSeen[layer]++
		e, isNum := r["max_rel_err"].(float64)
		if !isNum || !(e < 1e-6) || r["passed"] != true {
			t.Errorf("%s/%s %s: max_rel_err %v, passed %v", layer, r["case"], r["tensor"], r["max_rel_err"], r["passed"])
		}
		if n, _ := r["n"].(float64); n < 1 {
			t.Errorf("%s/%s %s: n = %v", layer, r["case"], r["tensor"], r["n"])
		}
	}
	for _, l := range want {
		if layersSeen[l] == 0 {
			t.Errorf("no %s rows in %v", l, layersSeen)
		}
	}
	// Each of deconv's shape options (same padding, output padding, groups, dilation) has
	// a case of its own.
	for _, v := range []string{"same", "output_padding", "groups", "dilation"} {
		if !containsCase(rows, "deconv", v) {
			t.Errorf("no deconv case with %q", v)
		}
	}
	if !strings.Contains(errs, "0 failed") {
		t.Errorf("summary on stderr: %q", errs)
	}
}

func containsCase(rows []map[string]any, layer, part string) bool {
	for _, r := range rows {
		if c, _ := r["case"].(string); r["layer"] == layer && strings.Contains(c, part) {
			return true
		}
	}
	return false
}

func TestGradcheckTableAndFilter(t *testing.T) {
	out, _, err := gradcheck(t, "--run", "^(relu|crop)/")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 {
		t.Fatalf("table too short:\n%s", out)
	}
	if f := strings.Fields(lines[0]); strings.Join(f, " ") != "LAYER CASE TENSOR N EPS MAX REL ERR OK" {
		t.Errorf("header %q", lines[0])
	}
	// relu: 3 cases of one tensor; crop: 4 cases of two (input0, input1).
	rows := lines[1 : len(lines)-1]
	if len(rows) != 3+8 {
		t.Errorf("%d rows, want 11:\n%s", len(rows), out)
	}
	for _, l := range rows {
		f := strings.Fields(l)
		if (f[0] != "relu" && f[0] != "crop") || f[len(f)-1] != "ok" {
			t.Errorf("row %q", l)
		}
	}
	if sum := lines[len(lines)-1]; !strings.HasPrefix(sum, "11 tensors in 7 cases: 11 passed, 0 failed; worst max rel err ") {
		t.Errorf("summary %q", sum)
	}

	// --list names the cases without running them.
	out, _, err = gradcheck(t, "--list", "--run", "^maxpool/.*ceil")
	if err != nil || !strings.Contains(out, "maxpool/k2_stride2_ceil_odd_batch2\n") || strings.Contains(out, "floor") {
		t.Errorf("--list: %v\n%s", err, out)
	}
}

// The subcommand is wired into the command table.
func TestGradcheckViaRunMain(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runMain([]string{"gradcheck", "--run", "^sum/plain"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "2 tensors in 1 cases: 2 passed") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestGradcheckBadUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--run", "("}, "--run"},
		{[]string{"--run", "^nosuchlayer/"}, "matches no case"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--bogus"}, "flag provided but not defined"},
	} {
		_, errs, err := gradcheck(t, tc.args...)
		if err == nil || !strings.Contains(err.Error()+errs, tc.want) {
			t.Errorf("%v: err %v, stderr %q; want %q", tc.args, err, errs, tc.want)
		}
	}
	if _, _, err := gradcheck(t, "-h"); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

// A failing tensor is marked in the table and in the JSON, and makes the command fail;
// a NaN error is never printed as a passing number.
func TestGradcheckReportsFailures(t *testing.T) {
	res := []autodiff.SuiteResult{
		{Layer: "conv", Case: "a", Tensor: "input0", N: 4, MaxRelErr: 3e-9, Eps: 1e-3, Passed: true},
		{Layer: "conv", Case: "a", Tensor: "weight", N: 4, MaxRelErr: 2e-3, Eps: 1e-3},
		{Layer: "loss", Case: "b", Tensor: "input0", N: 4, MaxRelErr: math.NaN(), Eps: 1e-4},
	}
	var out, errb bytes.Buffer
	err := reportGradcheck(res, 2, time.Second, false, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "2 of 3 tensors failed") || !strings.Contains(err.Error(), "conv/a weight") {
		t.Errorf("error %v", err)
	}
	text := strings.Join(strings.Fields(out.String()), " ") // columns padded as tabwriter likes
	for _, want := range []string{"conv a weight 4 0.001 2.00e-03 FAIL", "loss b input0 4 0.0001 NaN FAIL", "1 passed, 2 failed; worst max rel err NaN"} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
	out.Reset()
	if err := reportGradcheck(res, 2, time.Second, true, &out, &errb); err == nil {
		t.Error("JSON mode: no error for failures")
	}
	var rows []map[string]any
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil || len(rows) != 3 {
		t.Fatalf("JSON: %v\n%s", err, out.String())
	}
	if rows[1]["passed"] != false || rows[2]["max_rel_err"] != "NaN" {
		t.Errorf("JSON rows: %v", rows)
	}
}

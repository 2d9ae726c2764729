package study

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadMetricsTorn: the report reads a metrics.jsonl whose last line was cut short
// (a run killed mid-write) without it, and still refuses a damaged line before the end.
func TestReadMetricsTorn(t *testing.T) {
	p := filepath.Join(t.TempDir(), "metrics.jsonl")
	good := `{"step":1,"loss":1.5,"lr":0.1}` + "\n" + `{"step":2,"loss":1.25,"lr":0.1}` + "\n"
	if err := os.WriteFile(p, []byte(good+`{"step":3,"lo`), 0o644); err != nil {
		t.Fatal(err)
	}
	tr, _, err := readMetrics(p)
	if err != nil || len(tr) != 2 || tr[1].Loss != 1.25 {
		t.Fatalf("torn last line: %v, %v", tr, err)
	}
	if err := os.WriteFile(p, []byte(`{"step":1,"lo`+"\n"+good), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readMetrics(p); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Fatalf("damaged first line: %v", err)
	}
}

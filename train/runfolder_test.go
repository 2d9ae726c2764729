package train

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An evaluation line is one flat JSON object with NaN written as null, and reads back.
func TestEvalLineJSON(t *testing.T) {
	l := EvalLine{Step: 7, Split: "val", Loss: nullFloat(0.5), Metrics: Metrics{
		PixelAcc: 0.75, MeanAcc: 0.5, MeanIoU: 0.25, FWIoU: 0.625,
		IoU: []float64{0.5, math.NaN(), 0}, ClassAcc: []float64{1, math.NaN(), 0}, Pixels: 12,
	}}
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"step":7,"split":"val","loss":0.5,"pixel_acc":0.75,"mean_acc":0.5,"miou":0.25,"fwiou":0.625,"iou":[0.5,null,0],"class_acc":[1,null,0],"pixels":12}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	var back EvalLine
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Step != 7 || back.Split != "val" || back.MeanIoU != 0.25 || !math.IsNaN(back.IoU[1]) || back.Pixels != 12 || float64(back.Loss) != 0.5 {
		t.Errorf("read back %+v", back)
	}
}

// trimMetricsLog keeps what an uninterrupted run would have written up to the step.
func TestTrimMetricsLog(t *testing.T) {
	dir := t.TempDir()
	in := `{"step":1,"loss":1,"lr":0.1}
{"step":2,"loss":1,"lr":0.1}
{"step":2,"split":"val","miou":0.5}
{"step":3,"loss":1,"lr":0.1}
{"step":4,"lo`
	path := filepath.Join(dir, MetricsFile)
	if err := os.WriteFile(path, []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		step int
		keep bool
		want string
	}{
		{3, true, "1 2 2val 3"},
		{2, true, "1 2 2val"},
		{2, false, "1 2"},
	} {
		if err := os.WriteFile(path, []byte(in), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := trimMetricsLog(dir, c.step, c.keep); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(string(readFile(t, path))), "\n") {
			var m struct {
				Step  int
				Split string
			}
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("line %q: %v", l, err)
			}
			got = append(got, strings.TrimSpace(string(rune('0'+m.Step))+m.Split))
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("trim to %d (keep eval %v): %v, want %s", c.step, c.keep, got, c.want)
		}
	}
}

// TestReadEvalLinesTorn: a last line cut short (no newline) is skipped; a damaged line
// before it is an error naming the line.
func TestReadEvalLinesTorn(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, MetricsFile)
	good := `{"step":1,"loss":1,"lr":0.1}` + "\n" + `{"step":1,"split":"val","miou":0.5,"pixel_acc":0.9,"mean_acc":0.5,"fwiou":0.4,"iou":[0.5],"loss":null}` + "\n"
	if err := os.WriteFile(p, []byte(good+`{"step":2,"split":"val","miou":0.`), 0o644); err != nil {
		t.Fatal(err)
	}
	lines, err := ReadEvalLines(p)
	if err != nil || len(lines) != 1 || lines[0].MeanIoU != 0.5 {
		t.Fatalf("torn last line: %v, %v", lines, err)
	}
	if err := os.WriteFile(p, []byte(`{"step":1,"split":"val","miou":`+"\n"+good), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadEvalLines(p); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Fatalf("damaged first line: %v", err)
	}
}

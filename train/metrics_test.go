package train

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"gorgonia.org/tensor"
)

// pixels expands (gt, pred, count) triples into label and prediction slices.
func pixels(triples ...[3]int) (gt, pred []int32) {
	for _, t := range triples {
		for range t[2] {
			gt = append(gt, int32(t[0]))
			pred = append(pred, int32(t[1]))
		}
	}
	return gt, pred
}

func near(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return math.Abs(a-b) <= 1e-12
}

func TestMetricsByHand(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name             string
		classes          int
		pix              [][3]int
		wantHist         []int64
		ignored, skipped int64
		want             Metrics
	}{
		{
			// hist (rows gt):  [3 1 0]   class 2 is predicted twice but never true:
			//                  [0 2 2]   its IoU is 0 (0/(0+2−0)), its accuracy NaN (0/0).
			//                  [0 0 0]
			// pixel acc 5/8; class acc ¾, ½, NaN → mean ⅝;
			// IoU 3/(4+3−3) = ¾, 2/(4+3−2) = ⅖, 0 → mean 1.15/3; fwIoU ½·¾ + ½·⅖ = 0.575.
			name: "class predicted but absent from ground truth", classes: 3,
			pix: [][3]int{{0, 0, 3}, {0, 1, 1}, {1, 1, 2}, {1, 2, 2},
				{255, 0, 4}, {255, 2, 1}, // ignored, whatever the prediction
				{7, 0, 2}, {3, 1, 1}}, // labels ≥ classes: skipped
			wantHist: []int64{3, 1, 0, 0, 2, 2, 0, 0, 0}, ignored: 5, skipped: 3,
			want: Metrics{PixelAcc: 5.0 / 8, MeanAcc: 0.625, MeanIoU: 1.15 / 3, FWIoU: 0.575,
				IoU: []float64{0.75, 0.4, 0}, ClassAcc: []float64{0.75, 0.5, nan}, Pixels: 8},
		},
		{
			// hist: [5 0 1 0]   class 3 absent from both: IoU and accuracy NaN,
			//       [1 3 0 0]   left out of the means.
			//       [0 0 2 0]
			//       [0 0 0 0]
			// pixel acc 10/12; class acc 5/6, ¾, 1 → mean 31/36;
			// IoU 5/(6+6−5) = 5/7, 3/(4+3−3) = ¾, 2/(2+3−2) = ⅔ → mean 179/252;
			// freq 6/12, 4/12, 2/12 → fwIoU 5/14 + ¼ + 1/9 = 181/252.
			name: "class absent from both", classes: 4,
			pix:      [][3]int{{0, 0, 5}, {0, 2, 1}, {1, 0, 1}, {1, 1, 3}, {2, 2, 2}, {255, 3, 3}},
			wantHist: []int64{5, 0, 1, 0, 1, 3, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0}, ignored: 3,
			want: Metrics{PixelAcc: 10.0 / 12, MeanAcc: 31.0 / 36, MeanIoU: 179.0 / 252, FWIoU: 181.0 / 252,
				IoU: []float64{5.0 / 7, 0.75, 2.0 / 3, nan}, ClassAcc: []float64{5.0 / 6, 0.75, 1, nan}, Pixels: 12},
		},
		{
			name: "perfect", classes: 2,
			pix:      [][3]int{{0, 0, 2}, {1, 1, 6}},
			wantHist: []int64{2, 0, 0, 6},
			want: Metrics{PixelAcc: 1, MeanAcc: 1, MeanIoU: 1, FWIoU: 1,
				IoU: []float64{1, 1}, ClassAcc: []float64{1, 1}, Pixels: 8},
		},
		{
			name: "only ignored pixels", classes: 2,
			pix:      [][3]int{{255, 1, 4}},
			wantHist: []int64{0, 0, 0, 0}, ignored: 4,
			want: Metrics{PixelAcc: nan, MeanAcc: nan, MeanIoU: nan, FWIoU: nan,
				IoU: []float64{nan, nan}, ClassAcc: []float64{nan, nan}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewConfusion(tc.classes, 255)
			if err != nil {
				t.Fatal(err)
			}
			gt, pred := pixels(tc.pix...)
			// Add in two halves: counts accumulate.
			h := len(gt) / 2
			if err := c.Add(gt[:h], pred[:h]); err != nil {
				t.Fatal(err)
			}
			if err := c.Add(gt[h:], pred[h:]); err != nil {
				t.Fatal(err)
			}
			for i, v := range tc.wantHist {
				if got := c.At(i/tc.classes, i%tc.classes); got != v {
					t.Errorf("hist[%d][%d] = %d, want %d", i/tc.classes, i%tc.classes, got, v)
				}
			}
			if c.Ignored != tc.ignored || c.Skipped != tc.skipped {
				t.Errorf("ignored %d skipped %d, want %d and %d", c.Ignored, c.Skipped, tc.ignored, tc.skipped)
			}
			checkMetrics(t, c.Metrics(), tc.want)
		})
	}
}

func checkMetrics(t *testing.T, got, want Metrics) {
	t.Helper()
	for _, f := range []struct {
		name   string
		g, w   float64
		gs, ws []float64
	}{
		{name: "pixel acc", g: got.PixelAcc, w: want.PixelAcc},
		{name: "mean acc", g: got.MeanAcc, w: want.MeanAcc},
		{name: "mean IoU", g: got.MeanIoU, w: want.MeanIoU},
		{name: "fwIoU", g: got.FWIoU, w: want.FWIoU},
		{name: "IoU", gs: got.IoU, ws: want.IoU},
		{name: "class acc", gs: got.ClassAcc, ws: want.ClassAcc},
	} {
		if f.ws == nil && !near(f.g, f.w) {
			t.Errorf("%s = %.15g, want %.15g", f.name, f.g, f.w)
		}
		if f.ws != nil {
			if len(f.gs) != len(f.ws) {
				t.Errorf("%s = %v, want %v", f.name, f.gs, f.ws)
				continue
			}
			for i := range f.ws {
				if !near(f.gs[i], f.ws[i]) {
					t.Errorf("%s[%d] = %.15g, want %.15g", f.name, i, f.gs[i], f.ws[i])
				}
			}
		}
	}
	if got.Pixels != want.Pixels {
		t.Errorf("pixels = %d, want %d", got.Pixels, want.Pixels)
	}
}

func TestMetricsJSON(t *testing.T) {
	c, _ := NewConfusion(3, 255)
	gt, pred := pixels([3]int{0, 0, 1}, [3]int{1, 0, 1}, [3]int{1, 1, 2})
	if err := c.Add(gt, pred); err != nil {
		t.Fatal(err)
	}
	// hist [1 0 0; 1 2 0; 0 0 0]: pixel acc ¾; class acc 1, ⅔ → mean ⅚; IoU ½, ⅔ → mean
	// 7/12; fwIoU ¼·½ + ¾·⅔ = ⅝. Class 2 is absent from both: null in JSON.
	b, err := json.Marshal(c.Metrics())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"pixel_acc":0.75,"mean_acc":0.8333333333333333,"miou":0.5833333333333333,"fwiou":0.625,"iou":[0.5,0.6666666666666666,null],"class_acc":[1,0.6666666666666666,null],"pixels":4}`
	if string(b) != want {
		t.Errorf("JSON\n got %s\nwant %s", b, want)
	}
	var back Metrics
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	checkMetrics(t, back, c.Metrics())
}

func TestAddScores(t *testing.T) {
	// One image, 3 classes, 1×4 pixels; scores[k][x]. Pixel 2 ties classes 0 and 2 → 0.
	scores := tensor.New(tensor.WithShape(1, 3, 1, 4), tensor.WithBacking([]float32{
		1, 0, 5, 0,
		2, 0, 1, 0,
		0, 3, 5, 0, // pixel 3: all equal → class 0
	}))
	labels := tensor.New(tensor.WithShape(1, 1, 4), tensor.WithBacking([]int32{1, 2, 0, 255}))
	c, _ := NewConfusion(3, 255)
	if err := c.AddScores(labels, scores); err != nil {
		t.Fatal(err)
	}
	// predictions 1, 2, 0, (0 ignored)
	for _, e := range []struct{ g, p int }{{1, 1}, {2, 2}, {0, 0}} {
		if c.At(e.g, e.p) != 1 {
			t.Errorf("hist[%d][%d] = %d, want 1", e.g, e.p, c.At(e.g, e.p))
		}
	}
	if c.Metrics().Pixels != 3 || c.Ignored != 1 {
		t.Errorf("pixels %d ignored %d, want 3 and 1", c.Metrics().Pixels, c.Ignored)
	}
	bad := tensor.New(tensor.WithShape(1, 2, 1, 4), tensor.WithBacking(make([]float32, 8)))
	if err := c.AddScores(labels, bad); err == nil || !strings.Contains(err.Error(), "scores must be (N, 3, H, W)") {
		t.Errorf("wrong class count: %v", err)
	}
}

func TestConfusionMergeAndErrors(t *testing.T) {
	a, _ := NewConfusion(2, 255)
	b, _ := NewConfusion(2, 255)
	_ = a.Add([]int32{0, 1}, []int32{0, 0})
	_ = b.Add([]int32{1, 255, 9}, []int32{1, 1, 1})
	if err := a.Merge(b); err != nil {
		t.Fatal(err)
	}
	if a.At(0, 0) != 1 || a.At(1, 0) != 1 || a.At(1, 1) != 1 || a.Ignored != 1 || a.Skipped != 1 {
		t.Errorf("merged: %+v", a)
	}
	c3, _ := NewConfusion(3, 255)
	if err := a.Merge(c3); err == nil {
		t.Error("merging 3 classes into 2 succeeded")
	}
	if err := a.Add([]int32{0}, nil); err == nil {
		t.Error("Add with mismatched lengths succeeded")
	}
	if _, err := NewConfusion(0, 255); err == nil {
		t.Error("NewConfusion(0) succeeded")
	}
	// A prediction outside [0, classes) is skipped, not counted.
	a.Reset()
	_ = a.Add([]int32{0}, []int32{-1})
	if a.Skipped != 1 || a.Metrics().Pixels != 0 {
		t.Errorf("out-of-range prediction: skipped %d pixels %d", a.Skipped, a.Metrics().Pixels)
	}
}

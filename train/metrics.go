package train

import (
	"encoding/json"
	"fmt"
	"math"

	"gorgonia.org/tensor"
)

// Confusion is a confusion matrix over Classes classes: rows are ground truth, columns
// predictions, as the hist of FCN's score.py. Pixels whose ground truth is IgnoreLabel are
// not counted (Ignored counts them); pixels whose ground truth or prediction lies outside
// [0, Classes) are not counted either (Skipped counts them), as fast_hist drops them.
type Confusion struct {
	Classes     int
	IgnoreLabel int
	Hist        []int64 // Classes×Classes, row-major: Hist[gt·Classes + pred]
	Ignored     int64
	Skipped     int64
}

// NewConfusion returns an empty matrix.
func NewConfusion(classes, ignoreLabel int) (*Confusion, error) {
	if classes <= 0 {
		return nil, fmt.Errorf("confusion matrix: classes must be > 0, got %d", classes)
	}
	return &Confusion{Classes: classes, IgnoreLabel: ignoreLabel, Hist: make([]int64, classes*classes)}, nil
}

// At returns the number of pixels of ground-truth class gt predicted as pred.
func (c *Confusion) At(gt, pred int) int64 { return c.Hist[gt*c.Classes+pred] }

// Reset empties the matrix.
func (c *Confusion) Reset() {
	clear(c.Hist)
	c.Ignored, c.Skipped = 0, 0
}

// Add counts pixels: gt[i] is the true label of pixel i, pred[i] the predicted class.
func (c *Confusion) Add(gt, pred []int32) error {
	if len(gt) != len(pred) {
		return fmt.Errorf("confusion matrix: %d labels but %d predictions", len(gt), len(pred))
	}
	n := int32(c.Classes)
	for i, g := range gt {
		p := pred[i]
		switch {
		case int(g) == c.IgnoreLabel:
			c.Ignored++
		case g < 0 || g >= n || p < 0 || p >= n:
			c.Skipped++
		default:
			c.Hist[g*n+p]++
		}
	}
	return nil
}

// AddScores counts a batch: labels is Int32 (N, H, W), scores is (N, Classes, H, W) in
// float32 or float64; the prediction of a pixel is the argmax over classes, ties going to
// the lowest class index as numpy's argmax.
func (c *Confusion) AddScores(labels, scores *tensor.Dense) error {
	ls, ss := labels.Shape(), scores.Shape()
	if labels.Dtype() != tensor.Int32 || len(ls) != 3 {
		return fmt.Errorf("confusion matrix: labels must be int32 (N, H, W), got %v %v", labels.Dtype(), ls)
	}
	if len(ss) != 4 || ss[0] != ls[0] || ss[1] != c.Classes || ss[2] != ls[1] || ss[3] != ls[2] {
		return fmt.Errorf("confusion matrix: scores must be (N, %d, H, W) = (%d, %d, %d, %d), got %v", c.Classes, ls[0], c.Classes, ls[1], ls[2], ss)
	}
	var pred []int32
	switch s := scores.Data().(type) {
	case []float32:
		pred = argmaxChannels(s, ss[0], ss[1], ss[2]*ss[3])
	case []float64:
		pred = argmaxChannels(s, ss[0], ss[1], ss[2]*ss[3])
	default:
		return fmt.Errorf("confusion matrix: scores must be float32 or float64, got %v", scores.Dtype())
	}
	return c.Add(labels.Data().([]int32), pred)
}

func argmaxChannels[T float32 | float64](s []T, n, ch, hw int) []int32 {
	pred := make([]int32, n*hw)
	for b := range n {
		img := s[b*ch*hw : (b+1)*ch*hw]
		out := pred[b*hw : (b+1)*hw]
		for i := range hw {
			best, arg := img[i], 0
			for k := 1; k < ch; k++ {
				if v := img[k*hw+i]; v > best {
					best, arg = v, k
				}
			}
			out[i] = int32(arg)
		}
	}
	return pred
}

// Merge adds o's counts into c.
func (c *Confusion) Merge(o *Confusion) error {
	if o.Classes != c.Classes {
		return fmt.Errorf("confusion matrix: cannot merge %d classes into %d", o.Classes, c.Classes)
	}
	for i, v := range o.Hist {
		c.Hist[i] += v
	}
	c.Ignored += o.Ignored
	c.Skipped += o.Skipped
	return nil
}

// Metrics are FCN's segmentation scores (score.py's compute_hist), computed from the
// confusion matrix hist with diag its diagonal:
//
//	pixel acc = diag.sum() / hist.sum()
//	class acc = diag / hist.sum(1)                          (NaN: class absent from ground truth)
//	mean acc  = nanmean(class acc)
//	iou       = diag / (hist.sum(1) + hist.sum(0) − diag)   (NaN: class absent from both
//	                                                          ground truth and prediction)
//	mean IoU  = nanmean(iou)
//	fwIoU     = Σ_{freq>0} freq·iou, freq = hist.sum(1) / hist.sum()
//
// A class that is predicted but absent from the ground truth has IoU 0, which counts in
// the mean. NaN entries are left out of the means (numpy's nanmean). An empty matrix gives
// NaN for every score (score.py would report fwIoU 0 there, after a division warning). In JSON, NaN is written as null (JSON has no NaN)
// and null reads back as NaN.
type Metrics struct {
	PixelAcc float64
	MeanAcc  float64
	MeanIoU  float64
	FWIoU    float64
	IoU      []float64 // per class
	ClassAcc []float64 // per class
	Pixels   int64     // pixels counted, hist.sum()
}

// Metrics computes the scores of the pixels counted so far.
func (c *Confusion) Metrics() Metrics {
	k := c.Classes
	rows := make([]int64, k) // hist.sum(1): ground-truth pixels per class
	cols := make([]int64, k) // hist.sum(0): predicted pixels per class
	var total, diagSum int64
	for g := range k {
		for p := range k {
			v := c.Hist[g*k+p]
			rows[g] += v
			cols[p] += v
			total += v
		}
		diagSum += c.Hist[g*k+g]
	}
	m := Metrics{IoU: make([]float64, k), ClassAcc: make([]float64, k), Pixels: total}
	m.PixelAcc = ratio(diagSum, total)
	for i := range k {
		d := c.Hist[i*k+i]
		m.ClassAcc[i] = ratio(d, rows[i])
		m.IoU[i] = ratio(d, rows[i]+cols[i]-d)
		if rows[i] > 0 {
			m.FWIoU += float64(rows[i]) / float64(total) * m.IoU[i]
		}
	}
	if total == 0 {
		m.FWIoU = math.NaN()
	}
	m.MeanAcc = nanmean(m.ClassAcc)
	m.MeanIoU = nanmean(m.IoU)
	return m
}

// ratio is a/b with 0/0 = NaN, as numpy's division.
func ratio(a, b int64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

func nanmean(xs []float64) float64 {
	var sum float64
	n := 0
	for _, x := range xs {
		if !math.IsNaN(x) {
			sum += x
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// nullFloat writes NaN and ±Inf as null and reads null as NaN.
type nullFloat float64

func (f nullFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

func (f *nullFloat) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = nullFloat(math.NaN())
		return nil
	}
	return json.Unmarshal(b, (*float64)(f))
}

// metricsJSON gives the metrics.jsonl key names.
type metricsJSON struct {
	PixelAcc nullFloat   `json:"pixel_acc"`
	MeanAcc  nullFloat   `json:"mean_acc"`
	MeanIoU  nullFloat   `json:"miou"`
	FWIoU    nullFloat   `json:"fwiou"`
	IoU      []nullFloat `json:"iou"`
	ClassAcc []nullFloat `json:"class_acc"`
	Pixels   int64       `json:"pixels"`
}

func toNull(xs []float64) []nullFloat {
	out := make([]nullFloat, len(xs))
	for i, x := range xs {
		out[i] = nullFloat(x)
	}
	return out
}

func fromNull(xs []nullFloat) []float64 {
	if xs == nil {
		return nil
	}
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(x)
	}
	return out
}

// MarshalJSON writes the keys pixel_acc, mean_acc, miou, fwiou, iou, class_acc and pixels,
// with NaN as null.
func (m Metrics) MarshalJSON() ([]byte, error) {
	return json.Marshal(metricsJSON{
		PixelAcc: nullFloat(m.PixelAcc), MeanAcc: nullFloat(m.MeanAcc),
		MeanIoU: nullFloat(m.MeanIoU), FWIoU: nullFloat(m.FWIoU),
		IoU: toNull(m.IoU), ClassAcc: toNull(m.ClassAcc), Pixels: m.Pixels,
	})
}

// UnmarshalJSON reads what MarshalJSON writes, null as NaN.
func (m *Metrics) UnmarshalJSON(b []byte) error {
	var j metricsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*m = Metrics{
		PixelAcc: float64(j.PixelAcc), MeanAcc: float64(j.MeanAcc),
		MeanIoU: float64(j.MeanIoU), FWIoU: float64(j.FWIoU),
		IoU: fromNull(j.IoU), ClassAcc: fromNull(j.ClassAcc), Pixels: j.Pixels,
	}
	return nil
}

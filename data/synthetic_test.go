package data

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestSyntheticDeterministic(t *testing.T) {
	c := DefaultSyntheticConfig()
	a, _ := NewSynthetic(c, "train", nil)
	b, _ := NewSynthetic(c, "train", nil)
	v, _ := NewSynthetic(c, "val", nil)
	c2 := c
	c2.Seed = 2
	other, _ := NewSynthetic(c2, "train", nil)
	s1, _ := a.Sample(5)
	s2, _ := b.Sample(5)
	if !slices.Equal(s1.Image, s2.Image) || !slices.Equal(s1.Label, s2.Label) {
		t.Fatal("sample 5 differs between two instances with the same seed")
	}
	for _, tc := range []struct {
		name string
		ds   *Synthetic
		i    int
	}{{"next index", a, 6}, {"val split", v, 5}, {"other seed", other, 5}} {
		s, _ := tc.ds.Sample(tc.i)
		if slices.Equal(s.Image, s1.Image) {
			t.Errorf("%s gives the same image as train sample 5", tc.name)
		}
	}
	// Sample i does not depend on which samples were made before.
	s3, _ := b.Sample(5)
	if !slices.Equal(s1.Image, s3.Image) {
		t.Fatal("sample 5 changed after other samples were drawn")
	}
}

func TestSyntheticContent(t *testing.T) {
	c := DefaultSyntheticConfig()
	c.NTrain, c.Size, c.Classes = 60, 48, 8
	ds, err := NewSynthetic(c, "train", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := ds.ClassNames(); !slices.Equal(got, []string{"background", "disc", "triangle", "ring", "cross", "square", "star", "frame"}) {
		t.Fatalf("class names %v", got)
	}
	pixels := make([]int, c.Classes)
	for i := range ds.Len() {
		s, err := ds.Sample(i)
		if err != nil {
			t.Fatal(err)
		}
		if s.H != 48 || s.W != 48 || len(s.Image) != 3*48*48 || len(s.Label) != 48*48 {
			t.Fatalf("sample %d has the wrong size", i)
		}
		for _, v := range s.Image {
			if v < 0 || v > 255 || math.IsNaN(float64(v)) {
				t.Fatalf("sample %d: image value %v outside [0, 255]", i, v)
			}
		}
		for _, l := range s.Label {
			if l < 0 || int(l) >= c.Classes {
				t.Fatalf("sample %d: label %d", i, l)
			}
			pixels[l]++
		}
	}
	for k, p := range pixels {
		if p == 0 {
			t.Errorf("class %d (%s) never appears in 60 scenes", k, ds.ClassNames()[k])
		}
	}
	if bg := float64(pixels[0]) / float64(60*48*48); bg < 0.4 || bg > 0.95 {
		t.Errorf("background is %.0f%% of pixels; objects too large or too small", 100*bg)
	}
}

// The shapes at hand-picked points of their own frame: the centre of a ring and of a frame
// is a hole, the centre of a disc and of a square is not.
func TestShapes(t *testing.T) {
	in := func(name string) func(u, v float64) bool {
		for _, s := range shapes {
			if s.name == name {
				return s.inside
			}
		}
		t.Fatalf("no shape %q", name)
		return nil
	}
	for _, tc := range []struct {
		shape string
		u, v  float64
		want  bool
	}{
		{"disc", 0, 0, true}, {"disc", 0.7, 0.7, true}, {"disc", 0.75, 0.75, false},
		{"ring", 0, 0, false}, {"ring", 0.8, 0, true}, {"ring", 0, -0.95, true}, {"ring", 1.01, 0, false},
		{"square", 0.7, -0.7, true}, {"square", 0.9, 0, false},
		{"frame", 0, 0, false}, {"frame", 0.6, 0.1, true},
		{"triangle", 0, 1.1, true}, {"triangle", 0, -0.7, false}, {"triangle", 0.8, -0.45, true}, {"triangle", 0.5, 0.5, false},
		{"cross", 0, 0.9, true}, {"cross", 0.6, 0.6, false},
		{"star", 0, -0.9, true}, {"star", 0, 0.9, false}, {"star", 0, 0, true},
	} {
		if got := in(tc.shape)(tc.u, tc.v); got != tc.want {
			t.Errorf("%s at (%g,%g): inside = %v, want %v", tc.shape, tc.u, tc.v, got, tc.want)
		}
	}
}

// The synthetic set cannot be segmented from colour alone. The best any function of a
// pixel's colour can do is the Bayes classifier of the colour: for every quantised colour
// predict the class most frequent with that colour in the train split. On val it scores
// far below the 0.80 mIoU the trainer must reach, at every quantisation, because colours
// are drawn independently of the class. (Its train score rises with finer quantisation
// only because the table then memorises the colours of individual training objects.)
func TestColourClassifierFails(t *testing.T) {
	c := DefaultSyntheticConfig()
	c.NTrain, c.NVal = 300, 100
	train, _ := NewSynthetic(c, "train", nil)
	val, _ := NewSynthetic(c, "val", nil)
	trainS, valS := allSamples(t, train), allSamples(t, val)
	for _, levels := range []int{4, 8, 16} {
		fit := fitColourBayes(trainS, levels, c.Classes)
		valIoU, valAcc := fit.score(valS)
		trainIoU, trainAcc := fit.score(trainS)
		t.Logf("colour-only Bayes classifier, %2d levels a channel: val mIoU %.3f (pixel acc %.3f), train mIoU %.3f (pixel acc %.3f)",
			levels, valIoU, valAcc, trainIoU, trainAcc)
		if valIoU > 0.3 {
			t.Fatalf("colour alone reaches mIoU %.3f on val: the set is too easy", valIoU)
		}
	}
}

func allSamples(t *testing.T, ds Dataset) []Sample {
	out := make([]Sample, ds.Len())
	for i := range out {
		var err error
		if out[i], err = ds.Sample(i); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// colourBayes predicts, for each quantised colour, the class seen most often with it.
type colourBayes struct {
	levels, classes int
	counts          [][]int
}

func (cb *colourBayes) quant(s Sample, k int) int {
	n := s.H * s.W
	q := func(v float32) int { return min(cb.levels-1, int(v)*cb.levels/256) }
	return (q(s.Image[k])*cb.levels+q(s.Image[n+k]))*cb.levels + q(s.Image[2*n+k])
}

func fitColourBayes(train []Sample, levels, classes int) *colourBayes {
	cb := &colourBayes{levels: levels, classes: classes, counts: make([][]int, levels*levels*levels)}
	for _, s := range train {
		for k, l := range s.Label {
			q := cb.quant(s, k)
			if cb.counts[q] == nil {
				cb.counts[q] = make([]int, classes)
			}
			cb.counts[q][l]++
		}
	}
	return cb
}

func (cb *colourBayes) predict(q int) int {
	best := 0 // an unseen colour gets the most frequent class, background
	for k, n := range cb.counts[q] {
		if n > cb.counts[q][best] {
			best = k
		}
	}
	return best
}

// score returns mean IoU (tp / (tp + fp + fn), averaged over classes) and pixel accuracy.
func (cb *colourBayes) score(samples []Sample) (miou, acc float64) {
	conf := make([][]int, cb.classes) // rows: ground truth
	for k := range conf {
		conf[k] = make([]int, cb.classes)
	}
	right, total := 0, 0
	for _, s := range samples {
		for k, l := range s.Label {
			p := cb.predict(cb.quant(s, k))
			conf[l][p]++
			total++
			if p == int(l) {
				right++
			}
		}
	}
	for k := range conf {
		tp, fp, fn := conf[k][k], 0, 0
		for j := range conf {
			if j != k {
				fn += conf[k][j]
				fp += conf[j][k]
			}
		}
		miou += float64(tp) / float64(tp+fp+fn)
	}
	return miou / float64(cb.classes), float64(right) / float64(total)
}

func TestSyntheticConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		mod  func(*SyntheticConfig)
		want string
	}{
		{func(c *SyntheticConfig) { c.Classes = 1 }, "data.synthetic.classes"},
		{func(c *SyntheticConfig) { c.Classes = 12 }, "data.synthetic.classes"},
		{func(c *SyntheticConfig) { c.Size = 8 }, "data.synthetic.size"},
		{func(c *SyntheticConfig) { c.NTrain = 0 }, "data.synthetic.n_train"},
		{func(c *SyntheticConfig) { c.NVal = 0 }, "data.synthetic.n_val"},
		{func(c *SyntheticConfig) { c.MaxObjects = 0 }, "data.synthetic.max_objects"},
		{func(c *SyntheticConfig) { c.MinSize = 0 }, "data.synthetic.min_size"},
		{func(c *SyntheticConfig) { c.MaxSize = 0.1 }, "data.synthetic.max_size"},
	} {
		c := DefaultSyntheticConfig()
		tc.mod(&c)
		if _, err := NewSynthetic(c, "train", nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want an error naming %s, got %v", tc.want, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("the defaults are invalid: %v", err)
	}
	for _, tc := range []struct {
		mod  func(*Config)
		want []string
	}{
		{func(c *Config) { c.Format = "coco" }, []string{"data.format", "coco"}},
		{func(c *Config) { c.Format = FormatVOC }, []string{"data.root"}},
		{func(c *Config) { c.Format, c.Root = FormatFolder, "/x" }, []string{"data.classes"}},
		{func(c *Config) { c.Format, c.Root, c.NumClasses, c.Images = FormatFolder, "/x", 3, "" }, []string{"data.images"}},
		{func(c *Config) { c.IgnoreLabel = 2 }, []string{"data.ignore_label", "class id"}},
		{func(c *Config) { c.IgnoreLabel = -1 }, []string{"data.ignore_label"}},
		{func(c *Config) { c.NumClasses = 7 }, []string{"data.num_classes", "synthetic.classes"}},
		{func(c *Config) { c.Format, c.Root, c.Classes, c.NumClasses = FormatVOC, "/x", []string{"a", "b"}, 3 }, []string{"data.classes"}},
		{func(c *Config) { c.TrainSplit = "" }, []string{"data.train_split"}},
		{func(c *Config) { c.Prefetch = 0 }, []string{"data.prefetch"}},
		{func(c *Config) { c.Transforms.Crop = -3 }, []string{"data.transforms.crop"}},
		// Several problems are reported together.
		{func(c *Config) { c.Format, c.Prefetch = FormatVOC, 0 }, []string{"data.root", "data.prefetch"}},
	} {
		c := DefaultConfig()
		tc.mod(&c)
		err := c.Validate()
		if err == nil {
			t.Errorf("want an error naming %v, got none", tc.want)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q should mention %q", err, w)
			}
		}
	}
}

// The VOC-layout copy written by WriteSyntheticVOC reads back, through the voc format,
// with exactly the synthetic labels and images within JPEG error.
func TestWriteSyntheticVOC(t *testing.T) {
	c := DefaultSyntheticConfig()
	c.NTrain, c.NVal, c.Size = 6, 3, 40
	dir := t.TempDir()
	if err := WriteSyntheticVOC(context.Background(), dir, c, 95); err != nil {
		t.Fatal(err)
	}
	for _, split := range []string{"train", "val"} {
		syn, _ := NewSynthetic(c, split, nil)
		cfg := DefaultConfig()
		cfg.Format, cfg.Root, cfg.NumClasses = FormatVOC, dir, c.Classes
		voc, err := Open(cfg, split)
		if err != nil {
			t.Fatal(err)
		}
		if voc.Len() != syn.Len() {
			t.Fatalf("%s: %d samples on disk, %d synthetic", split, voc.Len(), syn.Len())
		}
		for i := range syn.Len() {
			a, _ := syn.Sample(i)
			b, err := voc.Sample(i)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(b.ID, fmt.Sprintf("%s_%06d.jpg", split, i)) {
				t.Fatalf("sample %d of %s is %s", i, split, b.ID)
			}
			if !slices.Equal(a.Label, b.Label) {
				t.Fatalf("%s sample %d: labels differ after the round trip", split, i)
			}
			var se float64
			for k := range a.Image {
				d := float64(a.Image[k] - b.Image[k])
				se += d * d
			}
			if rmse := math.Sqrt(se / float64(len(a.Image))); rmse > 20 { // noise and 4:2:0 chroma cost a few levels
				t.Fatalf("%s sample %d: JPEG copy off by RMSE %.1f", split, i, rmse)
			}
		}
	}
}

package study

import (
	"math"
	"strings"
	"testing"

	"github.com/fcn-dev/fcn/train"
)

// TestPairedIntervalWorked: differences 1, 2, 3 by hand: mean 2, sd √((1+0+1)/2) = 1,
// t_{0.975, 2} = 4.302652729749464 and half-width 4.302652729749464/√3 = 2.4841. With two
// degrees of freedom Student's t has a closed-form CDF, ½ + t/(2√(t²+2)), whence
// t = √(2/(4p(1−p)) − 2) at p = 0.975, which checks the tabled value.
func TestPairedIntervalWorked(t *testing.T) {
	p := 0.975
	tClosed := math.Sqrt(2/(4*p*(1-p)) - 2) // Student t quantile for ν = 2
	if math.Abs(tClosed-4.302652729749464) > 1e-12 {
		t.Fatalf("closed form %v", tClosed)
	}
	mean, sd, half, tq := PairedInterval([]float64{1, 2, 3}, 0.95)
	if mean != 2 || math.Abs(sd-1) > 1e-15 || math.Abs(tq-4.302652729749464) > 1e-9 || math.Abs(half-4.302652729749464/math.Sqrt(3)) > 1e-9 {
		t.Errorf("mean %v sd %v t %v half %v; want 2, 1, 4.3027, 2.4841", mean, sd, tq, half)
	}
	if math.Abs(half-2.4841) > 1e-4 {
		t.Errorf("half-width %v, want 2.4841", half)
	}
	// ν = 1: t is the Cauchy quantile tan(π(p − ½)) = 12.7062047...
	_, _, _, tq = PairedInterval([]float64{0.1, 0.3}, 0.95)
	if want := math.Tan(math.Pi * (0.975 - 0.5)); math.Abs(tq-want) > 1e-9 {
		t.Errorf("ν = 1: t %v, want %v", tq, want)
	}
	if _, sd, half, _ := PairedInterval([]float64{0.5}, 0.95); !math.IsNaN(sd) || !math.IsNaN(half) {
		t.Errorf("one value: sd %v half %v, want NaN", sd, half)
	}
}

func TestPairedWording(t *testing.T) {
	seeds := []uint64{1, 2, 3}
	cases := []struct {
		name   string
		a, b   []float64
		want   string
		excl   bool
		nSeeds int
	}{
		{"a better", []float64{0.53, 0.531, 0.532}, []float64{0.50, 0.50, 0.50},
			"learned − frozen: mean +0.0310, 95% CI [+0.0285, +0.0335] over 3 seeds: excludes 0, learned is better", true, 3},
		{"b better", []float64{0.50, 0.50, 0.50}, []float64{0.53, 0.531, 0.532},
			"learned − frozen: mean -0.0310, 95% CI [-0.0335, -0.0285] over 3 seeds: excludes 0, frozen is better", true, 3},
		{"no difference", []float64{0.51, 0.49, 0.52}, []float64{0.50, 0.50, 0.50},
			"includes 0: no clear difference", false, 3},
		{"one seed", []float64{0.53, math.NaN(), math.NaN()}, []float64{0.50, 0.5, 0.5},
			"learned − frozen: +0.0300 with seed 1 alone: an interval needs at least 2 seeds", false, 1},
		{"identical", []float64{0.5, 0.5}, []float64{0.5, 0.5}, "includes 0: no clear difference", false, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			va, vb := map[uint64]float64{}, map[uint64]float64{}
			for i := range c.a {
				va[seeds[i]], vb[seeds[i]] = c.a[i], c.b[i]
			}
			d := newPairedDiff("learned", "frozen", seeds, va, vb)
			if s := d.String(); !strings.Contains(s, c.want) {
				t.Errorf("got %q, want it to contain %q", s, c.want)
			}
			if d.ExcludesZero() != c.excl || len(d.Diffs) != c.nSeeds {
				t.Errorf("excludes %v over %d seeds, want %v over %d", d.ExcludesZero(), len(d.Diffs), c.excl, c.nSeeds)
			}
		})
	}
}

// TestReportPairedSection: the report pairs runs by seed (not by order) and writes the
// section; with one seed it says an interval needs at least 2.
func TestReportPairedSection(t *testing.T) {
	s := mustParse(t, "base: default\nseeds: [1, 2, 3]\nvariants: [{name: learned}, {name: frozen}, {name: bilinear}]\n")
	p, err := s.Plan(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// mIoU by variant and seed; learned − frozen is 1, 2, 3 hundredths.
	miou := map[string][]float64{"learned": {0.51, 0.52, 0.53}, "frozen": {0.50, 0.50, 0.50}, "bilinear": {0.60, 0.40, 0.55}}
	rep := &Report{Plan: p, Classes: []string{"bg", "fg"}}
	for i := len(p.Runs) - 1; i >= 0; i-- { // reversed: the pairing must go by seed
		r := p.Runs[i]
		rep.Runs = append(rep.Runs, &RunReport{Run: r, Done: &Done{}, Final: train.EvalLine{Split: "val",
			Metrics: train.Metrics{MeanIoU: miou[r.Variant][r.Seed-1]}}})
	}
	ds := rep.PairedDiffs()
	if len(ds) != 3 || ds[0].A != "learned" || ds[0].B != "frozen" || ds[2].A != "frozen" || ds[2].B != "bilinear" {
		t.Fatalf("pairs %+v", ds)
	}
	// 0.01, 0.02, 0.03: mean 0.02, half-width 0.024841 (the worked example scaled).
	if d := ds[0]; math.Abs(d.Mean-0.02) > 1e-12 || math.Abs(d.Hi-d.Mean-0.024841) > 1e-6 {
		t.Errorf("learned − frozen: mean %v, half-width %v", d.Mean, d.Hi-d.Mean)
	}
	md := rep.Markdown()
	for _, want := range []string{"## Paired differences of mIoU",
		"| learned − frozen | 1: +0.0100, 2: +0.0200, 3: +0.0300 | +0.0200 | [-0.0048, +0.0448] | includes 0: no clear difference |"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}

	s1 := mustParse(t, "base: default\nvariants: [{name: learned}, {name: frozen}]\n")
	p1, _ := s1.Plan(nil, nil)
	rep1 := &Report{Plan: p1, Classes: []string{"bg"}}
	for _, r := range p1.Runs {
		rep1.Runs = append(rep1.Runs, &RunReport{Run: r, Done: &Done{}, Final: train.EvalLine{Split: "val", Metrics: train.Metrics{MeanIoU: 0.5}}})
	}
	if md := rep1.Markdown(); !strings.Contains(md, "an interval needs at least 2 seeds") || !strings.Contains(md, "needs at least 2") {
		t.Errorf("one-seed report:\n%s", md)
	}
}

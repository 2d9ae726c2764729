package study

import (
	"fmt"
	"math"
	"strings"

	"gonum.org/v1/gonum/stat/distuv"
)

// PairedLevel is the confidence level of the paired intervals.
const PairedLevel = 0.95

// PairedDiff compares two variants' final mIoU seed by seed: each seed trains both on
// the same data order and initial draws, so the per-seed differences cancel what the seed
// does to both, and their mean's t-interval says whether the variants differ.
type PairedDiff struct {
	A, B  string    // the difference is A − B
	Seeds []uint64  // the seeds where both runs have a (finite) mIoU
	Diffs []float64 // A's mIoU − B's, per seed
	// Mean and SD (sample, n − 1) of Diffs; Lo, Hi the PairedLevel t-interval of the mean
	// (NaN with fewer than 2 seeds); T the Student t quantile it uses.
	Mean, SD, Lo, Hi, T float64
}

// PairedInterval is the mean of diffs, their sample standard deviation and the
// half-width t·sd/√n of the level (two-sided) confidence interval of the mean, with t
// the (1+level)/2 quantile of Student's t with n − 1 degrees of freedom. With fewer than
// 2 values the sd, half-width and t are NaN.
func PairedInterval(diffs []float64, level float64) (mean, sd, half, t float64) {
	n := len(diffs)
	if n == 0 {
		return math.NaN(), math.NaN(), math.NaN(), math.NaN()
	}
	for _, d := range diffs {
		mean += d
	}
	mean /= float64(n)
	if n < 2 {
		return mean, math.NaN(), math.NaN(), math.NaN()
	}
	var ss float64
	for _, d := range diffs {
		ss += (d - mean) * (d - mean)
	}
	sd = math.Sqrt(ss / float64(n-1))
	t = distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(n - 1)}.Quantile((1 + level) / 2)
	return mean, sd, t * sd / math.Sqrt(float64(n)), t
}

// newPairedDiff pairs a's and b's values by seed (NaN values leave their seed out).
func newPairedDiff(a, b string, seeds []uint64, va, vb map[uint64]float64) PairedDiff {
	d := PairedDiff{A: a, B: b}
	for _, s := range seeds {
		x, okA := va[s]
		y, okB := vb[s]
		if !okA || !okB || math.IsNaN(x) || math.IsNaN(y) {
			continue
		}
		d.Seeds = append(d.Seeds, s)
		d.Diffs = append(d.Diffs, x-y)
	}
	var half float64
	d.Mean, d.SD, half, d.T = PairedInterval(d.Diffs, PairedLevel)
	d.Lo, d.Hi = d.Mean-half, d.Mean+half
	return d
}

// HasInterval reports whether there are the 2 seeds an interval needs.
func (d PairedDiff) HasInterval() bool { return len(d.Diffs) >= 2 }

// ExcludesZero reports whether the interval lies wholly above or below 0.
func (d PairedDiff) ExcludesZero() bool { return d.HasInterval() && (d.Lo > 0 || d.Hi < 0) }

// Conclusion is the verdict alone: "excludes 0, learned is better", "includes 0: no
// clear difference" or why there is no interval.
func (d PairedDiff) Conclusion() string {
	switch {
	case len(d.Diffs) == 0:
		return "no seed where both have an mIoU"
	case !d.HasInterval():
		return "an interval needs at least 2 seeds"
	case d.Lo > 0:
		return fmt.Sprintf("excludes 0, %s is better", d.A)
	case d.Hi < 0:
		return fmt.Sprintf("excludes 0, %s is better", d.B)
	}
	return "includes 0: no clear difference"
}

// Interval is "[+0.0120, +0.0500]", or "–" without one.
func (d PairedDiff) Interval() string {
	if !d.HasInterval() {
		return "–"
	}
	return fmt.Sprintf("[%+.4f, %+.4f]", d.Lo, d.Hi)
}

// String is the sentence for the terminal and the report: "learned − frozen: mean
// +0.0310, 95% CI [+0.0120, +0.0500] over 3 seeds: excludes 0, learned is better".
func (d PairedDiff) String() string {
	name := d.A + " − " + d.B
	switch len(d.Diffs) {
	case 0:
		return fmt.Sprintf("%s: %s", name, d.Conclusion())
	case 1:
		return fmt.Sprintf("%s: %+.4f with seed %d alone: %s", name, d.Mean, d.Seeds[0], d.Conclusion())
	}
	return fmt.Sprintf("%s: mean %+.4f, %.0f%% CI %s over %d seeds: %s", name, d.Mean, 100*PairedLevel, d.Interval(), len(d.Diffs), d.Conclusion())
}

// PairedDiffs compares the final mIoU of every pair of variants, in study order (the
// earlier variant first: learned − frozen).
func (r *Report) PairedDiffs() []PairedDiff {
	vs := r.Plan.Variants()
	miou := map[string]map[uint64]float64{}
	for _, rr := range r.Runs {
		if miou[rr.Run.Variant] == nil {
			miou[rr.Run.Variant] = map[uint64]float64{}
		}
		miou[rr.Run.Variant][rr.Run.Seed] = rr.Final.MeanIoU
	}
	var out []PairedDiff
	for i := range vs {
		for j := i + 1; j < len(vs); j++ {
			out = append(out, newPairedDiff(vs[i], vs[j], r.Plan.Seeds, miou[vs[i]], miou[vs[j]]))
		}
	}
	return out
}

// pairedMarkdown is the report's section of paired differences.
func (r *Report) pairedMarkdown(b *strings.Builder) {
	ds := r.PairedDiffs()
	if len(ds) == 0 {
		return
	}
	b.WriteString("\n## Paired differences of mIoU\n\n")
	fmt.Fprintf(b, "For each pair of variants, the difference of their final %s mIoU with the same seed (same data order and initial draws), "+
		"the mean over the seeds and its %.0f%% confidence interval: mean ± t·sd/√n, with t the %.3g quantile of Student's t with n − 1 degrees of freedom "+
		"and sd the sample standard deviation of the differences. An interval that excludes 0 shows a difference that the variation from seed to seed does not explain; with few seeds the interval is wide.",
		r.Runs[0].Final.Split, 100*PairedLevel, (1+PairedLevel)/2)
	if len(r.Plan.Seeds) < 2 {
		b.WriteString(" This study has one seed: an interval needs at least 2 (add seeds to the study file, e.g. `seeds: [1, 2, 3]`).")
	}
	b.WriteString("\n\n| difference | per seed | mean | 95% CI | conclusion |\n|---|---|---|---|---|\n")
	for _, d := range ds {
		var per []string
		for i, s := range d.Seeds {
			per = append(per, fmt.Sprintf("%d: %+.4f", s, d.Diffs[i]))
		}
		mean := "–"
		if len(d.Diffs) > 0 {
			mean = fmt.Sprintf("%+.4f", d.Mean)
		}
		fmt.Fprintf(b, "| %s − %s | %s | %s | %s | %s |\n", d.A, d.B, strings.Join(per, ", "), mean, d.Interval(), d.Conclusion())
	}
}

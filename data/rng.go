package data

import "math"

// The generators below are written out rather than taken from math/rand/v2 because their
// output is part of the checkpoint contract: rand's derived methods (IntN, Perm, Float64)
// are not promised to keep their exact sequences across Go releases; splitmix64 is fixed.

// mix hashes a seed and any number of words into one well-mixed 64-bit seed.
func mix(seed uint64, words ...uint64) uint64 {
	h := splitmix(seed ^ 0x6a09e667f3bcc909)
	for _, w := range words {
		h = splitmix(h ^ splitmix(w+0x9e3779b97f4a7c15))
	}
	return h
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// rng is a splitmix64 stream: tiny, fast, and good enough for augmentation and scenes.
type rng struct{ s uint64 }

func newRNG(seed uint64) *rng { return &rng{s: seed} }

func (r *rng) uint64() uint64 {
	r.s += 0x9e3779b97f4a7c15
	x := r.s
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// float64 is uniform in [0, 1).
func (r *rng) float64() float64 { return float64(r.uint64()>>11) * (1.0 / (1 << 53)) }

// uniform is uniform in [lo, hi).
func (r *rng) uniform(lo, hi float64) float64 { return lo + (hi-lo)*r.float64() }

// intn is uniform in [0, n), n > 0, without modulo bias (rejection on the low bits).
func (r *rng) intn(n int) int {
	if n <= 1 {
		return 0
	}
	bound := uint64(n)
	threshold := -bound % bound
	for {
		v := r.uint64()
		if v >= threshold {
			return int(v % bound)
		}
	}
}

// normal is a standard normal deviate (Box–Muller; one of the pair is dropped).
func (r *rng) normal() float64 {
	u := 1 - r.float64() // (0, 1]
	v := r.float64()
	return math.Sqrt(-2*math.Log(u)) * math.Cos(2*math.Pi*v)
}

// tri is a cheap zero-mean, unit-variance deviate with a triangular density on
// [−√6, √6]: the sum of two uniforms from one draw, for per-pixel noise where Box–Muller
// would dominate the cost of a scene.
func (r *rng) tri() float64 {
	u := r.uint64()
	a, b := float64(u>>40), float64((u>>16)&(1<<24-1)) // two 24-bit uniforms
	return ((a+b)/(1<<24) - 1) * math.Sqrt(6)
}

// perm returns a uniformly random permutation of [0, n) (Fisher–Yates).
func (r *rng) perm(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := r.intn(i + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}

package data

import "math"

// shape is an object class of the synthetic scenes: a region of the plane in the
// object's own frame, scaled so that it fits the disc of radius ~1 (bounding radius ≤ 1.2).
// Classes differ by shape only; colour and texture are drawn independently of class.
type shape struct {
	name   string
	inside func(u, v float64) bool
}

// shapes, in class order: class k (k ≥ 1) is shapes[k−1]. Pairs such as disc/ring and
// square/frame differ only in a hole that shows the background, so telling them apart
// takes spatial context, not the colour of a pixel.
var shapes = []shape{
	{"disc", func(u, v float64) bool { return u*u+v*v <= 1 }},
	{"triangle", insideTriangle},
	{"ring", func(u, v float64) bool { r := u*u + v*v; return r <= 1 && r >= 0.55*0.55 }},
	{"cross", func(u, v float64) bool {
		au, av := math.Abs(u), math.Abs(v)
		return au <= 1 && av <= 1 && (au <= 0.36 || av <= 0.36)
	}},
	{"square", func(u, v float64) bool { return math.Abs(u) <= 0.78 && math.Abs(v) <= 0.78 }},
	{"star", insideStar},
	{"frame", func(u, v float64) bool {
		au, av := math.Abs(u), math.Abs(v)
		return au <= 0.8 && av <= 0.8 && (au >= 0.45 || av >= 0.45)
	}},
	{"half-disc", func(u, v float64) bool { w := v + 0.4; return w >= 0 && u*u+w*w <= 1 }},
	{"bar", func(u, v float64) bool { return math.Abs(u) <= 1 && math.Abs(v) <= 0.3 }},
	{"ell", func(u, v float64) bool {
		return (u >= -0.75 && u <= 0.75 && v >= 0.3 && v <= 0.75) ||
			(u >= -0.75 && u <= -0.3 && v >= -0.75 && v <= 0.75)
	}},
}

// SyntheticClassNames names the classes of a synthetic set of n classes: background,
// then the shapes in order.
func SyntheticClassNames(n int) []string {
	names := []string{"background"}
	for i := 0; i < n-1 && i < len(shapes); i++ {
		names = append(names, shapes[i].name)
	}
	return names
}

// Equilateral triangle of circumradius 1.2 (its area then is near the disc's, so that
// neither class is mostly boundary): inside all three edges, each at distance 0.6 (the
// inradius) from the centre, outward normals at −90°, 30°, 150°.
var triNormals = [3][2]float64{
	{0, -1},
	{math.Cos(math.Pi / 6), math.Sin(math.Pi / 6)},
	{math.Cos(5 * math.Pi / 6), math.Sin(5 * math.Pi / 6)},
}

func insideTriangle(u, v float64) bool {
	for _, n := range triNormals {
		if u*n[0]+v*n[1] > 0.6 {
			return false
		}
	}
	return true
}

// Five-pointed star: outer radius 1, inner radius 0.45, even–odd polygon test.
var starPoly = func() [10][2]float64 {
	var p [10][2]float64
	for k := range p {
		r := 1.0
		if k%2 == 1 {
			r = 0.45
		}
		a := -math.Pi/2 + float64(k)*math.Pi/5
		p[k] = [2]float64{r * math.Cos(a), r * math.Sin(a)}
	}
	return p
}()

func insideStar(u, v float64) bool {
	if u*u+v*v > 1 {
		return false
	}
	in := false
	for i, j := 0, len(starPoly)-1; i < len(starPoly); j, i = i, i+1 {
		a, b := starPoly[i], starPoly[j]
		if (a[1] > v) != (b[1] > v) && u < (b[0]-a[0])*(v-a[1])/(b[1]-a[1])+a[0] {
			in = !in
		}
	}
	return in
}

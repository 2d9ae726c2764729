package layers

import "testing"

func TestPlanChunks(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		n, oh, ow, krows, sz int
		sideBySide, rowsCut  bool
	}{
		{"small images side by side", 8, 8, 8, 2304, 4, true, false},
		{"large image cut into rows", 8, 128, 128, 288, 4, false, true},
		{"one image, no partner", 1, 8, 8, 2304, 4, false, false},
		{"odd rows evened out", 3, 97, 61, 600, 8, false, true},
	} {
		c := planChunks(tc.n, tc.oh, tc.ow, tc.krows, tc.sz, 32)
		if (c.nb > 1) != tc.sideBySide || (c.rows < tc.oh) != tc.rowsCut {
			t.Errorf("%s: nb %d rows %d of %d", tc.name, c.nb, c.rows, tc.oh)
		}
		if c.maxCols() < convMinCols && c.nb < tc.n && c.rows < tc.oh {
			t.Errorf("%s: blocks of %d columns, fewer than %d", tc.name, c.maxCols(), convMinCols)
		}
		// The blocks cover every (image, row) exactly once.
		seen := make([]int, tc.n*tc.oh)
		for i := range c.count() {
			n0, cnt, r0, r1 := c.block(i)
			if cnt*(r1-r0)*tc.ow > c.maxCols() {
				t.Errorf("%s: block %d has more columns than maxCols", tc.name, i)
			}
			for n := n0; n < n0+cnt; n++ {
				for r := r0; r < r1; r++ {
					seen[n*tc.oh+r]++
				}
			}
		}
		for i, v := range seen {
			if v != 1 {
				t.Fatalf("%s: image %d row %d covered %d times", tc.name, i/tc.oh, i%tc.oh, v)
			}
		}
	}
}

package mpi

import "testing"

func TestLaunched(t *testing.T) {
	vars := []string{"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS", "PMIX_RANK", "PMI_RANK"}
	cases := []struct {
		env      map[string]string
		size     int
		launched bool
	}{
		{map[string]string{}, 0, false},
		{map[string]string{"OMPI_COMM_WORLD_SIZE": "1"}, 1, false},
		{map[string]string{"OMPI_COMM_WORLD_SIZE": "4"}, 4, true},
		{map[string]string{"PMI_SIZE": "2"}, 2, true},
		{map[string]string{"PMIX_RANK": "0"}, -1, true},
	}
	for _, c := range cases {
		for _, v := range vars {
			t.Setenv(v, c.env[v]) // "" reads as unset
		}
		if got := launchedSize(); got != c.size || Launched() != c.launched {
			t.Errorf("%v: size %d launched %v, want %d %v", c.env, got, Launched(), c.size, c.launched)
		}
	}
}

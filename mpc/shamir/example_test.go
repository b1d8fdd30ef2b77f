package shamir_test

import (
	"crypto/rand"
	"fmt"

	"github.com/consort-ml/consort/mpc/shamir"
)

func Example() {
	s, err := shamir.New(3, []uint16{1, 2, 3, 4, 5})
	if err != nil {
		panic(err)
	}
	var secret [shamir.SecretSize]byte
	copy(secret[:], "a 32-byte seed of a secret mask!")
	shares, err := s.Split(&secret, rand.Reader)
	if err != nil {
		panic(err)
	}
	// Any three holders reconstruct; two learn nothing.
	got, err := s.Combine([]shamir.Share{shares[4], shares[1], shares[2]})
	fmt.Println(string(got[:]), err)
	_, err = s.Combine(shares[:2])
	fmt.Println(err)
	// Output:
	// a 32-byte seed of a secret mask! <nil>
	// shamir: too few shares: 2 of 3
}

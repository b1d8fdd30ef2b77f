package privacy

import "errors"

var (
	// ErrInvalid marks a parameter outside its documented domain (a negative
	// noise multiplier, a sampling rate above 1, an order at or below 1, ...).
	ErrInvalid = errors.New("privacy: invalid parameter")
	// ErrRandom marks a failure of the injected randomness source.
	ErrRandom = errors.New("privacy: randomness source failed")
	// ErrMode marks a call that does not match the mechanism's noise kind, for
	// example ring noise requested from a continuous-Gaussian mechanism.
	ErrMode = errors.New("privacy: wrong noise kind for this call")
	// ErrRounding is returned when conditional randomized rounding cannot find
	// a rounding within the sensitivity bound (practically impossible for a
	// clipped input; it signals a non-finite input or a broken source).
	ErrRounding = errors.New("privacy: conditional rounding failed")
)

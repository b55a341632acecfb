package peek

import "errors"

// AsBadRequest turns the errors of Members on a client's request body into
// client errors: a *SyntaxError becomes a *BadRequest with its message and
// ErrNotObject one saying the body must be a JSON object. Any other error
// (one returned by the member callback) is returned unchanged, as is nil.
func AsBadRequest(err error) error {
	var se *SyntaxError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		return &BadRequest{Msg: se.Error()}
	case errors.Is(err, ErrNotObject):
		return &BadRequest{Msg: "request body must be a JSON object"}
	}
	return err
}

package peek

import (
	"errors"
	"testing"
)

func TestAsBadRequest(t *testing.T) {
	f := func(body, want string) {
		t.Helper()
		err := AsBadRequest(Members([]byte(body), func(Member) error { return nil }))
		if want == "" {
			if err != nil {
				t.Fatalf("%q: unexpected error %v", body, err)
			}
			return
		}
		var br *BadRequest
		if !errors.As(err, &br) {
			t.Fatalf("%q: got %T %v; want *BadRequest", body, err, err)
		}
		if br.Msg != want && want != "*" {
			t.Fatalf("%q: got %q; want %q", body, br.Msg, want)
		}
	}
	f(`{"a":1}`, "")
	f(`[1]`, "request body must be a JSON object")
	f(`{"a":`, "*") // a syntax error, worded by SyntaxError

	other := errors.New("callback error")
	if err := AsBadRequest(other); err != other {
		t.Fatalf("got %v; want the error unchanged", err)
	}
}

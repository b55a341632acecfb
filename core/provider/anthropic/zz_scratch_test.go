package anthropic

import (
	"testing"
	json "github.com/goccy/go-json"
)

func TestZZ(t *testing.T) {
	for _, in := range []string{`{"delta":{"\`, `{"message":{"\`, `{"content_block":{"\`, `{"error":{"\`, `{"message":{"usage":{"\`, `{"content":[{"\`} {
		for _, name := range []string{"ev", "msg", "evU"} {
			panics := 0
			for i := 0; i < 3000; i++ {
				func() {
					defer func() { if recover() != nil { panics++ } }()
					var e streamEvent
					var m message
					b := []byte(in)
					switch name {
					case "ev": json.UnmarshalNoEscape(b, &e)
					case "evU": json.Unmarshal(b, &e)
					case "msg": json.Unmarshal(b, &m) }
				}()
			}
			t.Logf("%q %s panics %d/3000", in, name, panics)
		}
	}
}

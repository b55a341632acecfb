package anthropic

import (
	"encoding/json"
	"testing"

	oai "github.com/openai/openai-go/v3"
)

func TestScratch(t *testing.T) {
	for _, name := range []string{"plain", "system_blocks", "images", "tools_history", "thinking"} {
		out, err := InboundRequest(nil, readTestdata(t, "inbound_request_"+name+".json"))
		if err != nil {
			t.Fatal(name, err)
		}
		t.Logf("%s", out)
		var p oai.ChatCompletionNewParams
		if err := json.Unmarshal(out, &p); err != nil {
			t.Fatal(err)
		}
		again, _ := json.Marshal(p)
		t.Logf("again %s", again)
	}
}

package sse_test

import (
	"fmt"
	"strings"

	"github.com/tollgate/tollgate/core/sse"
)

// A relay loop: read upstream events, stop at [DONE], re-encode for the
// client into a reused buffer.
func ExampleScanner() {
	upstream := strings.NewReader(": OPENROUTER PROCESSING\n\n" +
		"data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n" +
		"event: ping\ndata: {}\n\n" +
		"data: [DONE]\n")
	s := sse.NewScanner(upstream, 0)
	var out []byte
	for s.Next() {
		ev := s.Event()
		if sse.IsDone(ev.Data) {
			out = sse.AppendDone(out)
			break
		}
		fmt.Printf("name=%q data=%s comments=%d\n", ev.Name, ev.Data, ev.Comments)
		out = sse.AppendEvent(out, ev.Name, ev.Data)
	}
	if err := s.Err(); err != nil {
		fmt.Println("cannot relay stream:", err)
	}
	fmt.Printf("%q\n", out)
	// Output:
	// name="" data={"choices":[{"delta":{"content":"Hi"}}]} comments=1
	// name="ping" data={} comments=0
	// "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\nevent: ping\ndata: {}\n\ndata: [DONE]\n\n"
}

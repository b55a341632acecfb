package routing

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Snapshot is an immutable view of the catalog. Everything reachable from it
// must be treated as read-only.
type Snapshot struct {
	version   uint64
	providers []Provider
	provByKey map[string]int32
	provTab   []int32 // open-addressing table of provider indices (-1 empty), by nameHash
	models    []*Model
	modelByID map[string]*Model
}

// Version increases with every catalog change of the router.
func (s *Snapshot) Version() uint64 { return s.version }

// Models returns the models sorted by id. Do not modify the slice.
func (s *Snapshot) Models() []*Model { return s.models }

// Model returns the model with the given canonical id.
func (s *Snapshot) Model(id string) (*Model, bool) {
	m, ok := s.modelByID[id]
	return m, ok
}

// Providers returns the providers sorted by name. Do not modify the slice.
func (s *Snapshot) Providers() []Provider { return s.providers }

// Provider returns a provider by name (case-insensitive).
func (s *Snapshot) Provider(name string) (*Provider, bool) {
	i := s.provIndex(name)
	if i < 0 {
		return nil, false
	}
	return &s.providers[i], true
}

// Endpoint returns the endpoint of model id served by provider.
func (s *Snapshot) Endpoint(provider, model string) (*Endpoint, bool) {
	m, ok := s.modelByID[model]
	if !ok {
		return nil, false
	}
	for _, e := range m.Endpoints {
		if strings.EqualFold(e.Provider, provider) {
			return e, true
		}
	}
	return nil, false
}

// buildSnapshot deep-copies cat, validates it and links endpoints to their
// providers and to stats (reusing entries of stats by endpoint key).
func buildSnapshot(cat Catalog, version uint64, stats func(key string) *epStats) (*Snapshot, error) {
	s := &Snapshot{
		version:   version,
		provByKey: make(map[string]int32, len(cat.Providers)),
		modelByID: make(map[string]*Model, len(cat.Models)),
	}
	s.providers = slices.Clone(cat.Providers)
	slices.SortFunc(s.providers, func(a, b Provider) int { return cmp.Compare(lowerASCII(a.Name), lowerASCII(b.Name)) })
	for i := range s.providers {
		p := &s.providers[i]
		if err := checkProviderName(p.Name); err != nil {
			return nil, err
		}
		k := lowerASCII(p.Name)
		if _, dup := s.provByKey[k]; dup {
			return nil, fmt.Errorf("routing: duplicate provider %q", p.Name)
		}
		s.provByKey[k] = int32(i)
	}
	for _, src := range cat.Models {
		if src == nil {
			continue
		}
		if src.ID == "" {
			return nil, fmt.Errorf("routing: model without id")
		}
		if _, dup := s.modelByID[src.ID]; dup {
			return nil, fmt.Errorf("routing: duplicate model %q", src.ID)
		}
		if src.ContextLength < 0 {
			return nil, fmt.Errorf("routing: model %q: negative context_length", src.ID)
		}
		m := &Model{
			ID: src.ID, Name: src.Name, Created: src.Created, ContextLength: src.ContextLength,
			InputModalities:  slices.Clone(src.InputModalities),
			OutputModalities: slices.Clone(src.OutputModalities),
		}
		if m.Name == "" {
			m.Name = m.ID
		}
		modelImages := slices.Contains(m.InputModalities, "image")
		for _, se := range src.Endpoints {
			if se == nil {
				continue
			}
			e := &Endpoint{
				Provider: se.Provider, Model: m.ID, UpstreamModel: se.UpstreamModel, Pricing: se.Pricing,
				ContextLength: se.ContextLength, MaxCompletionTokens: se.MaxCompletionTokens,
				Quantization: se.Quantization, SupportedParameters: slices.Clone(se.SupportedParameters),
				InputModalities: slices.Clone(se.InputModalities), Disabled: se.Disabled,
			}
			if se.Model != "" && se.Model != m.ID {
				return nil, fmt.Errorf("routing: endpoint %s/%s listed under model %q", se.Provider, se.Model, m.ID)
			}
			pi, ok := s.provByKey[lowerASCII(e.Provider)]
			if !ok {
				return nil, fmt.Errorf("routing: model %q: endpoint names unknown provider %q", m.ID, e.Provider)
			}
			if err := checkEndpoint(e); err != nil {
				return nil, fmt.Errorf("routing: endpoint %s/%s: %w", e.Provider, m.ID, err)
			}
			for _, o := range m.Endpoints {
				if o.provIdx == pi {
					return nil, fmt.Errorf("routing: model %q: duplicate endpoint for provider %q", m.ID, e.Provider)
				}
			}
			e.Provider = s.providers[pi].Name
			e.prov = &s.providers[pi]
			e.provIdx = pi
			e.model = m
			e.params = ParseParams(e.SupportedParameters)
			if e.params&(ParamReasoning|ParamIncludeReasoning) != 0 {
				// Either name means the endpoint can reason.
				e.params |= ParamReasoning | ParamIncludeReasoning
			}
			e.allParam = len(e.SupportedParameters) == 0
			e.quant = parseQuant(e.Quantization)
			if len(e.InputModalities) > 0 {
				e.images = slices.Contains(e.InputModalities, "image")
			} else {
				e.images = modelImages
			}
			e.ctx = e.ContextLength
			if e.ctx == 0 {
				e.ctx = m.ContextLength
			}
			e.key = endpointKey(e.Provider, m.ID)
			e.st = stats(e.key)
			m.Endpoints = append(m.Endpoints, e)
		}
		if m.ContextLength == 0 {
			for _, e := range m.Endpoints {
				m.ContextLength = max(m.ContextLength, e.ctx)
			}
		}
		s.models = append(s.models, m)
		s.modelByID[m.ID] = m
	}
	slices.SortFunc(s.models, func(a, b *Model) int { return cmp.Compare(a.ID, b.ID) })
	s.buildProvTab()
	return s, nil
}

func checkProviderName(name string) error {
	if name == "" || strings.ContainsAny(name, "/ \t\n") {
		return fmt.Errorf("routing: invalid provider name %q (empty, or contains '/' or space)", name)
	}
	return nil
}

func checkEndpoint(e *Endpoint) error {
	p := e.Pricing
	for _, v := range [...]int64{p.Prompt, p.Completion, p.Request, p.Image, p.InputCacheRead, p.InputCacheWrite, p.InternalReasoning} {
		if v < 0 {
			return fmt.Errorf("negative price")
		}
	}
	if e.ContextLength < 0 || e.MaxCompletionTokens < 0 {
		return fmt.Errorf("negative context_length or max_completion_tokens")
	}
	return nil
}

// quantMask is a set of quantizations; bit 0 is "unknown".
type quantMask uint16

var quantNames = [...]string{"unknown", "int4", "int8", "fp4", "fp6", "fp8", "fp16", "bf16", "fp32"}

// quantOther marks a quantization outside quantNames.
const quantOther quantMask = 1 << 15

func parseQuant(s string) quantMask {
	switch s {
	case "":
		return 1
	case "int4":
		return 1 << 1
	case "int8":
		return 1 << 2
	case "fp4":
		return 1 << 3
	case "fp6":
		return 1 << 4
	case "fp8":
		return 1 << 5
	case "fp16":
		return 1 << 6
	case "bf16":
		return 1 << 7
	case "fp32":
		return 1 << 8
	}
	for i, n := range quantNames {
		if strings.EqualFold(n, s) {
			return 1 << uint(i)
		}
	}
	return quantOther
}

// nameHash is FNV-1a over the ASCII-lower-cased name.
func nameHash(name string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}

func (s *Snapshot) buildProvTab() {
	size := 8
	for size < 2*len(s.providers) {
		size *= 2
	}
	s.provTab = make([]int32, size)
	for i := range s.provTab {
		s.provTab[i] = -1
	}
	mask := uint32(size - 1)
	for i := range s.providers {
		h := nameHash(s.providers[i].Name) & mask
		for s.provTab[h] >= 0 {
			h = (h + 1) & mask
		}
		s.provTab[h] = int32(i)
	}
}

// provIndex finds a provider by case-insensitive name without allocating;
// -1 when unknown. Rank resolves the request's provider lists with it.
func (s *Snapshot) provIndex(name string) int32 {
	mask := uint32(len(s.provTab) - 1)
	for h := nameHash(name) & mask; ; h = (h + 1) & mask {
		i := s.provTab[h]
		if i < 0 {
			return -1
		}
		if equalFoldASCII(s.providers[i].Name, name) {
			return i
		}
	}
}

func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if y >= 'A' && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

package bridge

import "github.com/ynagw/ynagw/rtpmedia"

// WebRTCMedia is the production MediaFactory: WebRTC legs from an rtpmedia engine.
type WebRTCMedia struct {
	Engine *rtpmedia.WebRTCEngine
}

// NewNetLeg implements MediaFactory.
func (m WebRTCMedia) NewNetLeg(codecs []rtpmedia.Codec) (NetLeg, error) {
	l, err := m.Engine.NewLeg(codecs)
	if err != nil {
		return nil, err
	}
	return l, nil
}

var _ NetLeg = (*rtpmedia.WebRTCLeg)(nil)

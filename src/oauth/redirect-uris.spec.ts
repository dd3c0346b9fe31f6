import { redirectUriMatches, redirectUriProblem } from './redirect-uris';

describe('redirect URIs', () => {
  it('admits https anywhere and http on loopback hosts only', () => {
    expect(redirectUriProblem('https://app.example/callback')).toBeUndefined();
    expect(redirectUriProblem('http://127.0.0.1:8765/callback')).toBeUndefined();
    expect(redirectUriProblem('http://[::1]/cb')).toBeUndefined();
    expect(redirectUriProblem('http://localhost:3000/cb')).toBeUndefined();
    expect(redirectUriProblem('http://app.example/callback')).toMatch(/https/);
    expect(redirectUriProblem('http://127.0.0.2/cb')).toMatch(/https/);
    expect(redirectUriProblem('javascript:alert(1)')).toBeDefined();
    expect(redirectUriProblem('https://app.example/cb#frag')).toMatch(/fragment/);
    expect(redirectUriProblem('https://user:pw@app.example/cb')).toMatch(/user/);
    expect(redirectUriProblem('not a url')).toMatch(/URL/);
  });

  it('matches exactly, except for the port of a loopback URI', () => {
    const registered = ['https://app.example/callback', 'http://127.0.0.1:9000/cb'];
    expect(redirectUriMatches(registered, 'https://app.example/callback')).toBe(true);
    expect(redirectUriMatches(registered, 'http://127.0.0.1:51234/cb')).toBe(true);
    expect(redirectUriMatches(registered, 'http://127.0.0.1/cb')).toBe(true);
    // One character off in host or path, or another loopback host.
    expect(redirectUriMatches(registered, 'https://app.exampla/callback')).toBe(false);
    expect(redirectUriMatches(registered, 'https://app.example/callbacK')).toBe(false);
    expect(redirectUriMatches(registered, 'https://app.example/callback/')).toBe(false);
    expect(redirectUriMatches(registered, 'https://app.example:444/callback')).toBe(false);
    expect(redirectUriMatches(registered, 'http://127.0.0.1:51234/cc')).toBe(false);
    expect(redirectUriMatches(registered, 'http://localhost:9000/cb')).toBe(false);
    expect(redirectUriMatches(registered, 'http://127.0.0.1:9000/cb?x=1')).toBe(false);
    expect(redirectUriMatches(registered, 'http://127.0.0.1:9000/%63b')).toBe(false);
  });
});

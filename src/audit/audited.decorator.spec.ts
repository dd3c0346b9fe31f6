import { Audited, AuditedManually, auditMetadataOf } from './audited.decorator';

@AuditedManually()
class ManualController {
  list(): void {}
}

class MixedController {
  @Audited({ action: 'widget.create', resourceType: 'widget', resourceId: (r) => (r as { id: string }).id })
  create(): void {}

  @AuditedManually()
  login(): void {}

  plain(): void {}
}

/** The handler function, as Nest's ExecutionContext.getHandler() returns it. */
function method(controller: { prototype: object }, name: string): object {
  return Reflect.get(controller.prototype, name) as object;
}

describe('@Audited and @AuditedManually', () => {
  it('are found on the handler first, then on the controller', () => {
    expect(auditMetadataOf(method(MixedController, 'create'), MixedController)).toEqual({
      kind: 'audited',
      options: expect.objectContaining({ action: 'widget.create', resourceType: 'widget' }),
    });
    expect(auditMetadataOf(method(MixedController, 'login'), MixedController)).toEqual({ kind: 'manual' });
    expect(auditMetadataOf(method(MixedController, 'plain'), MixedController)).toBeUndefined();
    expect(auditMetadataOf(method(ManualController, 'list'), ManualController)).toEqual({ kind: 'manual' });
    expect(auditMetadataOf(method(ManualController, 'list'))).toBeUndefined();
  });

  it('refuses an action that the audit_events CHECK constraint would refuse, at decoration time', () => {
    expect(() => Audited({ action: 'User.Create' })).toThrow(/not <resource>.<verb>/);
    expect(() => Audited({ action: 'user' })).toThrow();
    expect(() => Audited({ action: 'user.create.now' })).toThrow();
    expect(() => Audited({ action: 'api_key.revoke' })).not.toThrow();
  });
});

// Who may approve a change under review. Only members of the review board approve, and never
// their own change: the author is whoever submitted it, passed in the request as a
// `change-author:` line by the review tool. Everyone else is refused, and the refusal says why.
//
// The rule that calls this is gated on `review in [reviewing]`, so the script only runs while a
// change is under review.

const REVIEW_BOARD = ['maria', 'kenji', 'amara'];

export function decide(input) {
  if (!/^\/approve\b/i.test(input.last_user_message.trim())) return { actions: [] };
  const user = input.caller.consuming_user_id ?? null;
  const author = /^change-author:\s*(\S+)/im.exec(input.request_text);
  if (user === null || !REVIEW_BOARD.includes(user)) {
    return {
      actions: [
        { action: 'block', reason: `${user ?? 'an anonymous caller'} is not on the review board` },
      ],
    };
  }
  if (author !== null && author[1] === user) {
    return { actions: [{ action: 'block', reason: `${user} cannot approve their own change` }] };
  }
  return {
    actions: [
      { action: 'transition_state', machine_id: 'review', event: 'approve' },
      { action: 'alert', severity: 'info', message: `change approved by ${user}` },
    ],
  };
}

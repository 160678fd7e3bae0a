-- The duty-office board (GET /board/, SPEC section 10): the page itself holds no data, so
-- opening it needs only what api() has already checked, an enabled staff+ account. What the
-- page shows it reads from the API with that account's rights; an account of several centres
-- sees each of them (docs/board.md). GET /board/account answers this body, so that the page
-- offers alerts and their acknowledge button only to the roles the API serves them to.
CREATE FUNCTION op_board_open(ctx jsonb, args jsonb) RETURNS TABLE(status int, body jsonb)
LANGUAGE sql STABLE AS $$
    SELECT 200, jsonb_build_object('cn', ctx->'cn', 'role', ctx->'role',
                                   'centres', ctx->'centres')
$$;

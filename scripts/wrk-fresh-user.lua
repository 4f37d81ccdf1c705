-- wrk: a fresh `x-user-id` per request (user-1, user-2, ... per wrk thread).
local counter = 0

request = function()
    counter = counter + 1
    return wrk.format(nil, nil, { ["x-user-id"] = "user-" .. counter })
end
